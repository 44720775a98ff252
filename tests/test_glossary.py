"""The glossary as a learner meets it (tools/glossary.py): ``docs/glossary.md`` is current
with ``docs/glossary.yaml`` and has an anchor per term, every chapter's opening cell links it,
each chapter links the terms it teaches (once each, never from a heading), and every link to
it names a term that is there."""

from __future__ import annotations

import html
import re

import glossary
import mistune
import nbformat
import pytest
from web_export import chapters

CHAPTERS = chapters()
TERMS = glossary.load_glossary()
ANCHORS = {t.anchor for t in TERMS}
# A markdown link to the glossary, [text](../docs/glossary.md#anchor); the anchor is optional.
LINK = re.compile(r"\]\(" + re.escape(glossary.NOTEBOOK_LINK) + r"(?:#([^)\s]*))?\)")


def markdown_cells(path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "markdown"]


def glossary_anchors(path) -> list[str]:
    """The anchor of every link to the glossary in the chapter's text cells ('' for none)."""
    return [m[1] or "" for source in markdown_cells(path) for m in LINK.finditer(source)]


def test_glossary_md_is_current():
    text = glossary.glossary_markdown(TERMS, glossary.chapter_titles())
    assert glossary.GLOSSARY_MD.read_text(encoding="utf-8") == text, (
        "docs/glossary.md is out of date with docs/glossary.yaml: run make glossary")


def test_glossary_md_has_one_anchor_per_term():
    text = glossary.GLOSSARY_MD.read_text(encoding="utf-8")
    assert len(ANCHORS) == len(TERMS), "two terms share an anchor"
    for term in TERMS:
        assert text.count(f'<a id="{term.anchor}"></a>') == 1, term.english
        assert f"(../notebooks/{term.chapter}.ipynb)" in text, term.english


def test_glossary_md_shows_markdown_characters_as_written():
    written = "<bos> + W_h h_{t-1}, *x* [a](b) `c` \\ ~d~"
    rendered = mistune.create_markdown(escape=False, plugins=["strikethrough"])(
        glossary.markdown_text(written))
    assert html.unescape(re.sub(r"</?p>", "", rendered)).strip() == written


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_opening_cell_links_the_glossary(path):
    opening = markdown_cells(path)[0]
    assert f"]({glossary.NOTEBOOK_LINK})" in opening, (
        f"{path.name}: the opening cell should link the [glossary]({glossary.NOTEBOOK_LINK})")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_glossary_links_name_a_term_and_leave_headings_alone(path):
    anchors = [a for a in glossary_anchors(path) if a]
    assert not set(anchors) - ANCHORS, f"{path.name}: no such term in the glossary"
    repeated = sorted({a for a in anchors if anchors.count(a) > 1})
    assert not repeated, f"{path.name}: link a term at its first use only: {repeated}"
    headings = [line for source in markdown_cells(path) for line in source.splitlines()
                if line.startswith("#") and glossary.NOTEBOOK_LINK in line]
    assert not headings, f"{path.name}: a heading links the glossary: {headings}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_links_the_terms_it_teaches(path):
    taught = {t.anchor for t in TERMS if t.chapter == path.stem}
    missing = sorted(taught - set(glossary_anchors(path)))
    assert not missing, (f"{path.name} teaches these terms but never links them to the "
                         f"glossary at their first use: {missing}")


def test_relink_points_markdown_and_html_links_elsewhere():
    text = ('[a](../docs/glossary.md#x) [b](../docs/glossary.md) <a href="../docs/glossary.md#y">'
            " ../docs/glossary.md [c](../docs/glossary.mdx)")
    assert glossary.relink(text, "../glossary.html") == (
        '[a](../glossary.html#x) [b](../glossary.html) <a href="../glossary.html#y">'
        " ../docs/glossary.md [c](../docs/glossary.mdx)")
