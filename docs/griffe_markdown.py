"""A Griffe extension: the package's docstrings, written for `help()`, read as Markdown.

- doctest examples (from a `>>>` line to the next blank line, as doctest reads them) become
  `pycon` code blocks; left as they are, Markdown renders `>>>` as three nested quotes;
- bare URLs become links.
"""

from __future__ import annotations

import re

import griffe

URL = re.compile(r"(?<![<(\"])\bhttps?://[^\s<>()]+[^\s<>().,;:]")


def markdown(text: str) -> str:
    """`text` with doctest runs fenced and bare URLs linked."""
    out: list[str] = []
    in_code = False
    for line in text.split("\n"):
        stripped = line.lstrip()
        doctest = stripped.startswith(">>>") or (in_code and stripped != "")
        if doctest and not in_code:
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            in_code = True
        elif in_code and not doctest:
            out.append(f"{indent}```")
            in_code = False
        out.append(line if in_code else URL.sub(r"<\g<0>>", line))
    if in_code:
        out.append(f"{indent}```")
    return "\n".join(out)


class DocstringsAsMarkdown(griffe.Extension):
    """Rewrites every docstring with `markdown()` once the object tree is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
