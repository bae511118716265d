"""The API reference: one mkdocstrings entry per public symbol in `keras_inits.__all__`.

Generated when the docs are built, so a new symbol appears without anyone editing a page. The
symbols are grouped by the package level their module belongs to (`GROUPS`), and within a
group by module, in the order of `__all__` (sorted).
"""

from __future__ import annotations

import ast
import inspect
import os
import sys

import keras_inits

#: (page, title, module prefix, introduction); the last group takes every other module.
GROUPS = (
    (
        "schemes",
        "Schemes",
        "keras_inits.schemes",
        "The tensor-level initializers, one module per family. Each one's docstring gives its "
        "formula; the [gallery](../gallery/index.md) shows what it draws.",
    ),
    (
        "model",
        "Model-level tools",
        "keras_inits.model",
        "Tools that apply schemes to whole Keras models.",
    ),
    (
        "diagnostics",
        "Diagnostics and theory",
        "keras_inits.diagnostics",
        "Tools that measure, and predict, how a signal propagates through a network.",
    ),
    (
        "core",
        "Core",
        "keras_inits",
        "The registry, the base classes, fans, gains and seeding: what every scheme shares.",
    ),
)


def module_of(name: str) -> str:
    """The module that defines the public symbol `name`."""
    return getattr(getattr(keras_inits, name), "__module__", None) or "keras_inits"


def group_of(name: str) -> str:
    """The page (a `GROUPS` key) that documents `name`."""
    module = module_of(name)
    return next(
        page for page, _, prefix, _ in GROUPS if module == prefix or module.startswith(prefix + ".")
    )


def summary(obj) -> str:
    """The first line of `obj`'s docstring."""
    return (inspect.getdoc(obj) or "").strip().split("\n", 1)[0].replace("|", "\\|")


def _module_intro(module: str) -> str:
    doc = inspect.getdoc(sys.modules[module]) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def pages() -> dict[str, str]:
    """`{path under docs/: Markdown}` for the index and one page per group."""
    names = sorted(keras_inits.__all__)
    out = {}
    index = [
        "# API reference",
        "",
        f"Every public symbol of `keras_inits` ({len(names)}), generated from the docstrings "
        "when these pages are built (`docs/gen_api.py`).",
        "",
    ]
    for page, title, _, intro in GROUPS:
        members = [n for n in names if group_of(n) == page]
        if not members:
            continue
        index += [f"## [{title}]({page}.md)", "", "| symbol | summary |", "|---|---|"]
        index += [
            f"| [`{n}`][keras_inits.{n}] | {summary(getattr(keras_inits, n))} |" for n in members
        ]
        index.append("")
        body = [f"# {title}", "", intro, ""]
        for module in dict.fromkeys(module_of(n) for n in members):
            body += [f"## `{module}`", "", _module_intro(module), ""]
            for n in (n for n in members if module_of(n) == module):
                body += [f"::: keras_inits.{n}", ""]
        out[f"api/{page}.md"] = "\n".join(body)
    out["api/index.md"] = "\n".join(index)
    return out


def examples_page(folder: str) -> str:
    """The examples page: every script in `folder` (`examples/`), its docstring and its code."""
    lines = [
        "# Examples",
        "",
        "Short scripts a user would copy, from the repository's `examples/` folder. The test "
        "suite runs every one of them (`tests/test_examples.py`), on every backend.",
        "",
    ]
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
        title, _, rest = doc.partition("\n")
        lines += [
            f"## `{name}`",
            "",
            title,
            "",
            rest.strip(),
            "",
            f"<!-- include: examples/{name} -->",
            "",
        ]
    return "\n".join(lines)
