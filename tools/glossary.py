"""The course's glossary, ``docs/glossary.yaml``: the lecture notes' terms in English and
Chinese, each with its meaning and the chapter that teaches it.

``make glossary`` (or ``python tools/glossary.py``) writes ``docs/glossary.md`` from it: the
copy a learner opens from the notebooks, one entry per term under an anchor named by
``Term.anchor`` (the id of the term's row on the site's ``glossary.html`` too). ``--check``
changes nothing and exits 1 when that copy is out of date (the tests check it as well).

A chapter links its opening cell and the first use of each term it teaches to
``../docs/glossary.md#<anchor>`` (``NOTEBOOK_LINK``); ``relink`` points those links elsewhere:
at the site's ``glossary.html`` (``build_site.py``, ``build_decks.py``) and, for the lecturer's
copies in ``build/lecturer``, at ``docs/glossary.md`` from there (``tag_slides.py``).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict
from web_export import ROOT, chapter_title, chapters, read

GLOSSARY = ROOT / "docs" / "glossary.yaml"
GLOSSARY_MD = ROOT / "docs" / "glossary.md"
NOTEBOOK_LINK = "../docs/glossary.md"   # docs/glossary.md as the notebooks link it
# A link to the glossary in markdown, [text](../docs/glossary.md#x), or in HTML, href="...".
LINK = re.compile(r'(\]\(|href=")' + re.escape(NOTEBOOK_LINK) + r"(?=[#)\"])")


class Term(BaseModel):
    """One glossary entry of ``docs/glossary.yaml``."""

    model_config = ConfigDict(extra="forbid")
    english: str
    chinese: str
    source: Literal["notes", "course"]  # notes: the notes give this pair themselves
    chapter: str                        # the notebook's stem, e.g. "04_self_attention"
    meaning: str

    @property
    def anchor(self) -> str:
        """The term's anchor on the glossary page and in docs/glossary.md: "working-memory"."""
        return re.sub(r"[^a-z0-9]+", "-", self.english.lower()).strip("-")


def load_glossary(path: Path = GLOSSARY) -> list[Term]:
    """The glossary's terms, validated; a chapter that does not exist is an error."""
    terms = [Term(**entry) for entry in yaml.safe_load(path.read_text(encoding="utf-8"))]
    known = {p.stem for p in chapters()}
    unknown = sorted({t.chapter for t in terms} - known)
    if unknown:
        raise ValueError(f"{path.name}: no chapter named {', '.join(unknown)}")
    return terms


def chapter_titles() -> dict[str, str]:
    """Every chapter's title ("Chapter 04 · Self-attention"), by its notebook's stem."""
    return {p.stem: chapter_title(read(p)) for p in chapters()}


def glossary_html(terms: list[Term], titles: dict[str, str],
                  chapter_href: Callable[[str], str] = lambda stem: f"chapters/{stem}.html"
                  ) -> str:
    """The glossary page's body: a table of ``terms``, each row's id its anchor; ``titles``
    maps a chapter to its title, ``chapter_href`` to the page that shows it."""
    rows = []
    for term in terms:
        added = "" if term.source == "notes" else ' <span class="course-added">†</span>'
        rows.append(f'<tr id="{html.escape(term.anchor)}"><td>{html.escape(term.english)}</td>'
                    f'<td class="course-zh" lang="zh">{html.escape(term.chinese)}{added}</td>'
                    f"<td>{html.escape(term.meaning)}</td>"
                    f'<td><a href="{html.escape(chapter_href(term.chapter))}">'
                    f"{html.escape(titles[term.chapter])}</a></td></tr>")
    return ("<h1>Glossary</h1>\n<p>The lecture notes' terms, in English and in the Chinese "
            "the notes use. † marks a Chinese name the notes do not give (the usual "
            "translation, added by the course).</p>\n"
            '<table class="course-glossary"><thead><tr><th>English</th><th>中文</th>'
            "<th>Meaning</th><th>Chapter</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>")


def markdown_text(text: str) -> str:
    """``text`` with markdown's special characters escaped, so that it shows as written."""
    return re.sub(r"([\\`*_\[\]<>~])", r"\\\1", text)


def glossary_markdown(terms: list[Term], titles: dict[str, str]) -> str:
    """``docs/glossary.md``: one entry per term under ``<a id="<anchor>">``, with its meaning
    and a link to the chapter that teaches it."""
    lines = ["<!-- Written by `make glossary` (tools/glossary.py) from docs/glossary.yaml: "
             "edit that file, not this one. -->", "",
             "# Glossary", "",
             "The lecture notes' terms, in English and in the Chinese the notes use, each with "
             "its meaning and the chapter that teaches it; the chapters link a term here where "
             "they first use it. † marks a Chinese name the notes do not give (the usual "
             "translation, added by the course).", ""]
    for term in terms:
        added = "" if term.source == "notes" else " †"
        title = markdown_text(titles[term.chapter])
        lines += [f'### <a id="{term.anchor}"></a>{markdown_text(term.english)} · '
                  f"{markdown_text(term.chinese)}{added}", "",
                  markdown_text(term.meaning), "",
                  f"Taught in [{title}](../notebooks/{term.chapter}.ipynb).", ""]
    return "\n".join(lines)


def relink(text: str, target: str) -> str:
    """``text`` (markdown or HTML) with its links to ``../docs/glossary.md`` pointed at
    ``target`` instead, their anchors kept: ``relink(page, "../glossary.html")``."""
    return LINK.sub(lambda m: m[1] + target, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if docs/glossary.md is out of date")
    args = parser.parse_args(argv)
    terms = load_glossary()
    text = glossary_markdown(terms, chapter_titles())
    current = GLOSSARY_MD.read_text(encoding="utf-8") if GLOSSARY_MD.exists() else None
    if args.check:
        if current != text:
            print(f"{GLOSSARY_MD.relative_to(ROOT)} is out of date: run make glossary")
            return 1
        return 0
    GLOSSARY_MD.write_text(text, encoding="utf-8")
    print(f"{len(terms)} terms in {GLOSSARY_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
