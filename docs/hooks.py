"""MkDocs hooks: what the site generates when it is built.

- `on_files`: the API reference (`gen_api.py`) and the gallery (`gen_gallery.py`, its images
  under the ignored `build/docs/`), added as generated pages;
- `on_page_markdown`: `<!-- include: PATH -->` lines are replaced by the file at `PATH` (relative
  to the repository root): Markdown without its title, its headings nested under the section
  the line is in; anything else (the example scripts) in a code block. So committed outputs
  such as `benchmarks/RESULTS.md` and the scripts the tests run are shown as they are. A
  missing file fails the build.
"""

from __future__ import annotations

import os
import re
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")  # the gallery's draws; `make docs` sets it
DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path[:0] = [DOCS, ROOT]  # the generators, and the checkout's keras_inits

import gen_api  # noqa: E402
import gen_gallery  # noqa: E402
from mkdocs.exceptions import PluginError  # noqa: E402
from mkdocs.structure.files import File  # noqa: E402

INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.MULTILINE)
FENCES = {".py": "python", ".txt": "text"}


def on_files(files, config):
    start = time.perf_counter()
    images = os.path.join(ROOT, "build", "docs", "gallery")
    gallery, names = gen_gallery.build(images)
    files.append(File.generated(config, "gallery/index.md", content=gallery))
    for name in names:
        files.append(
            File.generated(config, f"gallery/{name}", abs_src_path=os.path.join(images, name))
        )
    pages = {
        **gen_api.pages(),
        "examples.md": gen_api.examples_page(os.path.join(ROOT, "examples")),
    }
    for path, markdown in pages.items():
        files.append(File.generated(config, path, content=markdown))
    print(
        f"INFO    -  gallery ({len(names)} figures) and API pages generated in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return files


HEADING = re.compile(r"^(#{1,6}) ", re.MULTILINE)
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)  # code blocks: no headings there
FENCED_OR_HEADING = re.compile(r"(^```.*?^```)|^(#{1,6}) ", re.MULTILINE | re.DOTALL)


def _included(match: re.Match, markdown: str, page: str) -> str:
    path = os.path.join(ROOT, match.group(1))
    if not os.path.isfile(path):
        raise PluginError(f"{page}: included file {match.group(1)!r} does not exist.")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".md"):  # a script: shown as it is, in a code block
        return f"```{FENCES.get(os.path.splitext(path)[1], '')}\n{text.rstrip()}\n```"
    text = re.sub(r"<!-- /?section:[^>]*-->\n?", "", text)
    text = re.sub(r"\A\s*# .*\n", "", text)  # its title: the section it is included in names it
    # Nest the file's headings under the section the include line is in (its level + 1).
    sections = HEADING.findall(FENCED.sub("", markdown[: match.start()]))
    shift = len(sections[-1]) if sections else 1
    return FENCED_OR_HEADING.sub(
        lambda m: m.group(0) if m.group(2) is None else "#" * min(6, len(m.group(2)) + shift) + " ",
        text,
    )


def on_page_markdown(markdown, page, config, files):
    return INCLUDE.sub(lambda m: _included(m, markdown, page.file.src_uri), markdown)
