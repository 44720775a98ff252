"""The offline slide decks and the static course site (tools/build_decks.py, build_site.py):
every chapter is there, nothing is loaded from the network, every link and picture resolves,
and the glossary covers the notes' terms. (The browser test opens them with the network
blocked.)"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import build_decks
import build_site
import glossary
import nbformat
import pytest
import tag_slides
import vendor_web
import yaml
from web_export import ROOT, chapters

NOTES_TERMS = ROOT / "docs" / "notes_terms.yaml"   # the notes' own "English (中文)" pairs
CHAPTERS = chapters()
# The only outside pages a page may link to: the chapters' further reading.
READING_HOSTS = {"arxiv.org"}


class Links(HTMLParser):
    """Every URL a page loads or links to, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []   # script src, link href, img src
        self.links: list[str] = []   # a href
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.loads.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.loads.append(attrs["href"])
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


@cache
def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def local_target(page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment a relative URL points at; None for data: and same-page links."""
    parsed = urlparse(url)
    assert not parsed.scheme or parsed.scheme == "data", f"{page.name} reaches out: {url}"
    assert not parsed.netloc, f"{page.name} reaches out: {url}"
    if parsed.scheme == "data":
        return None
    target = (page.parent / unquote(parsed.path)).resolve() if parsed.path else page
    return target, parsed.fragment


def test_vendored_files_match_their_hashes():
    assert vendor_web.check() == []


def test_every_chapter_has_a_deck_and_a_page(built_site):
    for path in CHAPTERS:
        assert (built_site / "slides" / f"{path.stem}.slides.html").is_file()
        assert (built_site / "chapters" / f"{path.stem}.html").is_file()
    for page in ("index.html", "glossary.html", "teaching.html"):
        assert (built_site / page).is_file()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_deck_follows_the_slide_metadata(built_site, path):
    cells = nbformat.read(path, as_version=4).cells
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in cells]
    text = (built_site / "slides" / f"{path.stem}.slides.html").read_text(encoding="utf-8")
    # one <section> per slide, holding one <section> per page (its first and each subslide)
    assert text.count("<section") == kinds.count("slide") + build_decks.slide_count(
        nbformat.read(path, as_version=4))
    # the speaker notes, not in the notebook: one per lecture plan row (tag_slides.py)
    assert text.count('<aside class="notes"') == len(tag_slides.chapter_plan(path)) >= 3
    shown = [c for c, k in zip(cells, kinds, strict=True) if k == "skip"]
    solutions = [c for c in shown if c.source.lstrip().startswith("<details>")]
    for cell in solutions:                     # the answers to the exercises stay out
        summary = re.search(r"<summary>(.+?)</summary>", cell.source)[1]
        assert summary not in text, "the exercises' solutions reached the deck"
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', text)
    assert scripts == ["../vendor/mathjax/es5/tex-chtml.js", "../vendor/reveal.js/dist/reveal.js",
                       "../vendor/reveal.js/plugin/notes/notes.js"]


def test_every_page_loads_only_local_files_and_its_links_resolve(built_site):
    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) == 3 + 2 * len(CHAPTERS)
    for page in pages:
        links = parse(page)
        for url in links.loads:
            found = local_target(page, url)
            if found:
                assert found[0].is_file(), f"{page.name} loads a missing {url}"
        for url in links.links:
            if urlparse(url).scheme == "https" and urlparse(url).netloc in READING_HOSTS:
                continue                          # a reference to read, not a page to load
            found = local_target(page, url)
            if not found:
                continue
            target, fragment = found
            assert target.is_file(), f"{page.relative_to(built_site)} links to a missing {url}"
            if fragment and target.suffix == ".html":
                assert fragment in parse(target).ids, f"{page.name}: no #{fragment} in {url}"


def test_the_index_links_every_chapter_in_order(built_site):
    links = [u for u in parse(built_site / "index.html").links if u.startswith("chapters/")]
    assert links == [f"chapters/{p.stem}.html" for p in CHAPTERS]


def test_chapter_pages_fold_the_quiz_answers_and_drop_speaker_notes(built_site):
    page = (built_site / "chapters" / "04_self_attention.html").read_text(encoding="utf-8")
    assert page.count("Show the answer") >= 5
    assert "<details open" not in page
    assert "Speaker notes ·" not in page
    assert page.count('src="data:image/png;base64,') >= 3   # figures and explorers' pictures


def test_glossary_covers_the_notes_terms():
    notes = yaml.safe_load(NOTES_TERMS.read_text(encoding="utf-8"))
    assert len(notes) == 13 and all(
        set(t) == {"english", "chinese", "section", "chapter"} for t in notes), NOTES_TERMS
    chapter_stems = {path.stem for path in CHAPTERS}
    assert {t["chapter"] for t in notes} <= chapter_stems
    terms = glossary.load_glossary()
    in_notes = {(t["english"], t["chinese"], t["chapter"]) for t in notes}
    from_notes = {(t.english, t.chinese, t.chapter) for t in terms if t.source == "notes"}
    assert in_notes == from_notes, (sorted(in_notes - from_notes), sorted(from_notes - in_notes))
    assert len({t.english.lower() for t in terms}) == len(terms), "a term is listed twice"


def test_glossary_page_lists_every_term(built_site):
    page = (built_site / "glossary.html").read_text(encoding="utf-8")
    for term in glossary.load_glossary():
        assert term.chinese in page and f"chapters/{term.chapter}.html" in page


def glossary_hrefs(page: Path) -> list[str]:
    """The page's links that go to the glossary."""
    return [u for u in parse(page).links if "glossary" in u]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_pages_and_decks_link_the_glossary_page(built_site, path):
    """A notebook's links to docs/glossary.md#term point at the site's glossary.html#term
    (the link check above finds the anchor there)."""
    in_notebook = sorted(m[1] for c in nbformat.read(path, as_version=4).cells
                         if c.cell_type == "markdown"
                         for m in re.finditer(r"\]\(\.\./docs/glossary\.md(#[^)]*)\)", c.source))
    for page in (built_site / "chapters" / f"{path.stem}.html",
                 built_site / "slides" / f"{path.stem}.slides.html"):
        hrefs = glossary_hrefs(page)
        assert all(u.startswith("../glossary.html") for u in hrefs), (page.name, hrefs)
        on_page = sorted(u.removeprefix("../glossary.html") for u in hrefs if "#" in u)
        assert on_page == in_notebook, page.name


def test_decks_on_their_own_link_a_glossary_beside_them(tmp_path):
    """``make slides`` writes glossary.html beside the decks; each term there links its deck."""
    deck, _ = build_decks.build_deck(CHAPTERS[0], tmp_path)
    build_decks.write_glossary(tmp_path)
    hrefs = glossary_hrefs(deck)
    assert any("#" in u for u in hrefs) and all(u.startswith("glossary.html") for u in hrefs)
    ids = parse(tmp_path / "glossary.html").ids
    assert {urlparse(u).fragment for u in hrefs} - {""} <= ids
    assert f"{CHAPTERS[0].stem}.slides.html" in parse(tmp_path / "glossary.html").links


def test_glossary_rejects_an_unknown_chapter_or_field(tmp_path):
    bad = tmp_path / "glossary.yaml"
    entry = {"english": "x", "chinese": "x", "source": "notes", "chapter": "99_nothing",
             "meaning": "x"}
    bad.write_text(yaml.safe_dump([entry]))
    with pytest.raises(ValueError, match="99_nothing"):
        glossary.load_glossary(bad)
    bad.write_text(yaml.safe_dump([{**entry, "chapter": CHAPTERS[0].stem, "extra": 1}]))
    with pytest.raises(ValueError, match="extra"):
        glossary.load_glossary(bad)


def test_guide_links_become_site_links():
    assert build_site.site_href("notebooks/04_self_attention.ipynb#x") == \
        "chapters/04_self_attention.html#x"
    assert build_site.site_href("#lecture-plans") == "#lecture-plans"
    assert build_site.site_href("glossary.md#softmax") == "glossary.html#softmax"
    with pytest.raises(ValueError, match="no page"):
        build_site.site_href("../course_utils/quiz.py")


# The Chinese fonts of common systems (Linux's Noto / Source Han / WenQuanYi, macOS's PingFang
# and Hiragino, Windows's YaHei), after the Latin fonts: without one the Chinese terms are boxes.
CJK_FALLBACK = ('"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", '
                '"Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif')


def font_lists(css: str) -> dict[str, str]:
    """The course's font variables in a stylesheet, each list on one line."""
    return {m[1]: " ".join(m[2].split())
            for m in re.finditer(r"(--(?:course-text|course-code|r-main)-font):([^;]+);", css)}


def assert_cjk_fallback(css: str, where: str) -> None:
    fonts = font_lists(css)
    assert set(fonts) == {"--course-text-font", "--course-code-font", "--r-main-font"}, where
    for name, stack in fonts.items():
        assert CJK_FALLBACK in stack, (where, name, stack)
        latin = stack[:stack.index(CJK_FALLBACK)]
        assert latin.strip(" ,"), f"{where}: {name} should name Latin fonts before the CJK ones"
    assert fonts["--course-code-font"].index("monospace") < \
        fonts["--course-code-font"].index(CJK_FALLBACK), "code stays monospace"
    # JupyterLab's text, tables and code, and the site's own pages, use them
    for use in ("--jp-content-font-family: var(--course-text-font)",
                "--jp-ui-font-family: var(--course-text-font)",
                "--jp-code-font-family: var(--course-code-font)",
                "--r-heading-font: var(--r-main-font)"):
        assert use in css, (where, use)
    # offline: the fonts are the system's own, none is fetched
    assert "@font-face" not in css and "@import" not in css and "url(" not in css, where


def course_style(page: str) -> str:
    """The page's own style block (a deck also inlines JupyterLab's styles)."""
    blocks = [b for b in re.findall(r"<style[^>]*>(.*?)</style>", page, re.S)
              if "--course-text-font" in b]
    assert len(blocks) == 1
    return blocks[0]


def test_site_and_decks_fall_back_to_cjk_fonts(built_site, tmp_path):
    """The Chinese terms (glossary, chapters, decks) are drawn with whichever CJK font the
    system has, and no web font is loaded."""
    css = (built_site / "course.css").read_text(encoding="utf-8")
    assert_cjk_fallback(css, "course.css")
    assert "font-family: var(--course-text-font)" in css.split("body.course-site", 1)[1]
    for page in ("index.html", "glossary.html", "teaching.html"):
        assert "./course.css" in parse(built_site / page).loads, page
    chapter = built_site / "chapters" / f"{CHAPTERS[0].stem}.html"
    text = chapter.read_text(encoding="utf-8")
    assert "../course.css" in parse(chapter).loads
    # course.css comes after JupyterLab's styles, so its --jp-*-font-family win
    assert text.index("--jp-content-font-family:") < text.index("../course.css")
    for deck in sorted((built_site / "slides").glob("*.slides.html")):
        text = deck.read_text(encoding="utf-8")
        assert_cjk_fallback(course_style(text), deck.name)
        assert text.index("--jp-content-font-family:") < text.index("--course-text-font")
    # `make slides` on its own: the decks' index and glossary pages too
    build_decks.write_glossary(tmp_path)
    build_decks.write_index(tmp_path, [])
    for page in ("glossary.html", "index.html"):
        assert_cjk_fallback(course_style((tmp_path / page).read_text(encoding="utf-8")), page)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_saved_figures_warn_of_no_missing_glyph(path):
    """The pages and decks show the chapters' saved outputs: no figure was drawn with text its
    font lacks (matplotlib's "Glyph ... missing from font(s)", boxes in the picture). Chinese
    goes into a figure only with a CJK font found (figures/chapter_01.py's ``cjk_font``)."""
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(output.get("traceback", []))
            assert "missing from font" not in text, f"{path.name}: {text[:200]}"
