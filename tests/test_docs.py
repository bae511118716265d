"""The documentation site's checks: docstrings, the generated API reference, the gallery, the nav.

`make docs` builds the site in strict mode (a broken link or reference fails); these tests check
what the build cannot: that every public symbol is documented with its arguments (and every
registered scheme with its formula), and that the gallery draws one figure per registered scheme
whose exact density is the law the scheme really samples, on every backend.
"""

import dataclasses
import importlib.util
import inspect
import math
import re
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy import stats

import keras_inits
from keras_inits._registry import lookup

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen_api = _load("gen_api")
gen_gallery = _load("gen_gallery")
griffe_markdown = _load("griffe_markdown")

PUBLIC = sorted(keras_inits.__all__)
SECTION_END = r"^\s*(?:Returns|Yields|Raises|Example|Examples|Reference|References|Note|Notes):"


def _docstring(obj) -> str:
    """`obj`'s own docstring (a class's, not inherited), with its `__init__`'s if it has one."""
    if not inspect.isclass(obj):
        return obj.__doc__ or ""
    init = obj.__dict__.get("__init__")
    return (obj.__dict__.get("__doc__") or "") + ((init and init.__doc__) or "")


def _parameters(obj) -> list[str]:
    """The named parameters a user passes: a class's constructor's, or a function's."""
    if inspect.ismodule(obj):
        return []
    signature = inspect.signature(obj)
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_symbol_has_docstring(name):
    obj = getattr(keras_inits, name)
    assert _docstring(obj).strip(), f"keras_inits.{name} has no docstring of its own"


@pytest.mark.parametrize("name", PUBLIC)
def test_args_section_names_every_parameter(name):
    obj = getattr(keras_inits, name)
    params = _parameters(obj)
    if not params:
        return
    doc = _docstring(obj)
    # A dataclass's arguments are its fields, which Google style documents as `Attributes:`.
    title = "Args|Attributes" if dataclasses.is_dataclass(obj) else "Args"
    section = re.search(rf"^\s*(?:{title}):\n(.*?)(?={SECTION_END}|\Z)", doc, re.S | re.M)
    assert section, f"keras_inits.{name} takes {params} but its docstring has no `Args:` section"
    missing = [p for p in params if not re.search(rf"\b{p}\b", section.group(1))]
    assert not missing, f"keras_inits.{name}'s `Args:` does not describe {missing}"


@pytest.mark.parametrize("name", keras_inits.names())
def test_registered_scheme_shows_its_formula(name):
    # "Formula": a backticked expression with `=` or `~`, such as `W ~ U[-l, l]` or
    # `Var(W) = scale / n`, in the class's own docstring (the gallery prints the first one).
    doc = lookup(name).__dict__.get("__doc__") or ""
    assert gen_gallery.FORMULA.search(doc), f"{name}'s docstring shows no formula"
    assert gen_gallery.formula(name) in doc


@pytest.mark.parametrize("name", keras_inits.names())
def test_registered_scheme_is_public(name):
    # The API reference documents `__all__`: a registered class outside it has no entry.
    assert name in keras_inits.__all__ and getattr(keras_inits, name) is lookup(name)


def test_api_reference_has_one_entry_per_public_symbol():
    pages = gen_api.pages()
    entries = re.findall(r"^::: keras_inits\.(\w+)$", "\n".join(pages.values()), re.M)
    assert sorted(entries) == PUBLIC
    index = pages["api/index.md"]
    assert all(f"[`{n}`][keras_inits.{n}]" in index for n in PUBLIC)
    assert set(pages) == {"api/index.md"} | {f"api/{g[0]}.md" for g in gen_api.GROUPS}


def test_api_groups_follow_the_package_levels():
    assert gen_api.group_of("HeNormal") == "schemes"
    assert gen_api.group_of("lsuv") == "model"
    assert gen_api.group_of("propagation_report") == "diagnostics"
    assert gen_api.group_of("get") == "core"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    markdown, files = gen_gallery.build(str(out))
    return out, markdown, files


def test_gallery_has_one_image_per_registered_scheme(gallery):
    out, markdown, files = gallery
    names = keras_inits.names()
    assert sorted(files) == sorted(f"{n}.png" for n in names)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name in names:
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000, name
        assert f"![{name}]({name}.png)" in markdown
        assert re.search(rf"^### {name}$", markdown, re.M)


def test_gallery_kinds():
    assert gen_gallery.kind("HeNormal") == "law"
    assert gen_gallery.kind("DepthScaled") == "law"
    assert gen_gallery.kind("Orthogonal") == "singular"
    assert gen_gallery.kind("BlockOrthogonal") == "singular"
    for name in (
        "Identity",
        "Dirac",
        "ZerO",
        "DeltaOrthogonal",
        "ConvolutionOrthogonal",
        "STFT",
        "Zeros",
    ):
        assert gen_gallery.kind(name) == "heatmap", name


LAW_SCHEMES = [n for n in keras_inits.names() if gen_gallery.kind(n) == "law"]


@pytest.mark.parametrize("name", LAW_SCHEMES)
def test_gallery_density_is_the_law_sampled(name):
    # The red curve must be the law the scheme really draws from, on this backend: a KS test of
    # the gallery's own seeded sample (65,536 values) against it. The critical value at level
    # 1e-4 is about 1.95 / sqrt(n) (Kolmogorov's limit law), 0.0076 here; a wrong std by 2%, a
    # missing truncation or a wrong bound gives a distance several times that.
    w = gen_gallery.sample(name)
    law = gen_gallery.law(gen_gallery.instance(name), w.shape)
    assert law is not None, f"{name} is drawn as a histogram: add its exact law to LAWS"
    values = w.ravel().astype(np.float64)
    if law.atom:
        zeros = values == 0
        assert zeros.mean() == pytest.approx(law.atom, abs=1e-12)  # exact counts per column
        values = values[~zeros]
    result = stats.kstest(values, law.dist.cdf)
    assert result.statistic < 1.95 / math.sqrt(values.size), (name, result)


def test_gallery_law_rejects_a_wrong_scale():
    # The KS check above can fail: He's law with Glorot's variance is far outside its bound.
    w = gen_gallery.sample("HeNormal").ravel()
    wrong = gen_gallery.law(keras_inits.GlorotNormal(), gen_gallery.shape_for("HeNormal"))
    assert stats.kstest(w, wrong.dist.cdf).statistic > 5 * 1.95 / math.sqrt(w.size)


def test_gallery_heatmap_panels():
    panels, grid = gen_gallery._panels(np.zeros((3, 3, 4, 8)))
    assert panels.shape == (9, 4, 8) and grid == (3, 3)
    panels, grid = gen_gallery._panels(np.zeros((32, 1, 17)))  # STFT: one (T, F) panel
    assert panels.shape == (1, 32, 17) and grid == (1, 1)
    panels, grid = gen_gallery._panels(np.zeros((5,)))
    assert panels.shape == (1, 1, 5) and grid == (1, 1)


def test_docstrings_read_as_markdown():
    text = "Example:\n\n>>> x = f(\n...     1)\n3\n\nSee https://arxiv.org/abs/1502.01852."
    assert griffe_markdown.markdown(text) == (
        "Example:\n\n```pycon\n>>> x = f(\n...     1)\n3\n```\n\n"
        "See <https://arxiv.org/abs/1502.01852>."
    )


def _nav_pages() -> list[str]:
    return re.findall(
        r"^\s*-\s*(?:[^:\n]+:\s*)?(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M
    )


def test_nav_pages_exist():
    generated = set(gen_api.pages()) | {"gallery/index.md", "examples.md"}
    pages = _nav_pages()
    assert len(pages) > 20
    missing = [p for p in pages if p not in generated and not (DOCS / p).is_file()]
    assert not missing


def test_every_guide_is_in_the_nav():
    written = {
        str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "reproductions" not in p.parts
    }
    assert written <= set(_nav_pages())


def test_included_files_exist():
    for page in DOCS.rglob("*.md"):
        for path in re.findall(r"^<!-- include: (\S+) -->$", page.read_text(), re.M):
            assert (ROOT / path).is_file(), f"{page}: {path}"


def test_gallery_law_of_two_summands():
    # torch's LSTM/GRU bias, b_ih + b_hh: the sum of two U(-b, b), triangular on (-2b, 2b).
    init = keras_inits.TorchRecurrent(units=16, summands=2, seed=0)
    w = keras.ops.convert_to_numpy(init((256, 256))).astype(np.float64).ravel()
    law = gen_gallery.law(init, (256, 256))
    assert law.dist.support() == pytest.approx((-0.5, 0.5))
    assert stats.kstest(w, law.dist.cdf).statistic < 1.95 / math.sqrt(w.size)


def test_examples_page_shows_every_example():
    page = gen_api.examples_page(str(ROOT / "examples"))
    scripts = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
    assert re.findall(r"^<!-- include: examples/(\S+) -->$", page, re.M) == scripts


@pytest.mark.parametrize("name", keras_inits.names())
def test_registered_scheme_is_in_the_choosing_guide(name):
    # The guide's table of every scheme (formula, when to use) is written by hand: a new
    # scheme needs its row there.
    table = (DOCS / "guides" / "choosing.md").read_text()
    assert re.search(rf"^\| {name}[,| ]", table, re.M), f"{name} has no row in choosing.md"


def test_readme_links_resolve():
    # The README is the front page: its relative links point at the site's Markdown sources.
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(links) > 10
    assert all((ROOT / link).exists() for link in links), [
        link for link in links if not (ROOT / link).exists()
    ]
