"""The offline slide deck and the course site in a real browser with the network cut off:
the pages are opened from disk (``file://``, as from a USB stick) and every http(s) request is
refused and counted; there must be none.

* A deck (``make slides``): reveal.js starts, has as many slides as the chapter's slide
  metadata asks for, the arrow keys move through them, its figures are drawn, its maths is
  typeset and its speaker notes are there: one per row of the chapter's lecture plan (they
  are not in the notebook; the deck is built from the lecturer's copy).
* The site (``make site``): from the index, every chapter link is followed; on every page
  every picture has loaded and every local link points at a page (and an anchor) that exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import nbformat

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the test (fails it on CI) and says why
    expect = None

import build_decks
import tag_slides
from web_export import chapters

DECK = "08_neural_turing_machines"  # figures, maths (the addressing equations) and notes
LOAD_TIMEOUT_MS = 20_000

BROKEN_IMAGES_JS = """
() => [...document.images]
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src').slice(0, 80))
"""
# Every link on the page, resolved, with whether its target exists: a local page or anchor.
LINKS_JS = """
() => [...document.querySelectorAll('a[href]')].map(a => ({
    href: a.getAttribute('href'), url: a.href,
}))
"""


def open_file(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def test_deck_offline(offline_page, built_site: Path) -> None:
    page = offline_page
    path = Path(chapters()[0]).parent / f"{DECK}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    open_file(page, built_site / "slides" / f"{DECK}.slides.html")
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=LOAD_TIMEOUT_MS)

    title = page.get_by_role("heading", name=re.compile(r"^Chapter 08 · Neural Turing"))
    expect(title, "the title slide is not showing").to_be_visible()
    total = page.evaluate("() => Reveal.getTotalSlides()")
    assert total == build_decks.slide_count(notebook), "slides differ from the metadata"
    assert page.evaluate("() => Reveal.hasPlugin('notes')"), "no speaker-notes plugin"
    assert page.locator("aside.notes").count() == len(tag_slides.chapter_plan(path)) >= 3

    page.keyboard.press("ArrowRight")
    expect(title, "the right arrow did not move on").to_be_hidden()
    assert page.evaluate("() => Reveal.getIndices()") != {"h": 0, "v": 0}

    # Walk to the first slide with a figure: it must be drawn.
    for _ in range(total):
        figures = page.locator(".slides section.present:not(.stack) img")
        if figures.count():
            break
        page.keyboard.press("Space")  # next slide, down through subslides first
    assert figures.count(), "no slide showed a figure"
    expect(figures.first).to_be_visible()
    assert page.evaluate(BROKEN_IMAGES_JS) == [], "a figure of the deck did not load"

    # MathJax (local copy) typeset the addressing equations.
    page.wait_for_function("() => document.querySelectorAll('mjx-container').length >= 5",
                           timeout=LOAD_TIMEOUT_MS)
    assert page.blocked == [], f"the deck tried the network: {page.blocked}"


def test_site_offline(offline_page, built_site: Path) -> None:
    page = offline_page
    open_file(page, built_site / "index.html")
    expect(page.get_by_role("heading", name="Chapter map")).to_be_visible()
    chapter_links = page.locator("ol.course-chapters > li > a:first-child")
    hrefs = chapter_links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == [f"chapters/{p.stem}.html" for p in chapters()]

    visited = {}
    for href in hrefs:
        open_file(page, built_site / "index.html")
        page.locator(f'ol.course-chapters a[href="{href}"]').click()
        page.wait_for_load_state("load")
        assert page.url.endswith(href), f"the link {href} led to {page.url}"
        heading = page.locator("h1").first
        expect(heading).to_contain_text("Chapter")
        visited[href] = check_page(page, built_site)
        folded = page.locator(".course-quiz details")
        if folded.count():  # every chapter's quiz: answers folded
            assert not any(folded.evaluate_all("ds => ds.map(d => d.open)"))
    for name in ("glossary.html", "teaching.html"):
        open_file(page, built_site / name)
        visited[name] = check_page(page, built_site)
    open_file(page, built_site / "index.html")
    visited["index.html"] = check_page(page, built_site)
    open_file(page, built_site / "glossary.html")
    assert page.locator("tbody tr").count() >= 20, "the glossary is (nearly) empty"
    assert page.blocked == [], f"the site tried the network: {page.blocked}"
    print(f"\nsite: {len(visited)} pages checked, "
          f"{sum(visited.values())} links followed, no broken link or picture")


def check_page(page, root: Path) -> int:
    """Every picture on the page loaded and every link points at an existing local file and
    anchor; returns the number of links checked."""
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    broken = page.evaluate(BROKEN_IMAGES_JS)
    assert broken == [], f"{page.url}: pictures missing: {broken}"
    links = page.evaluate(LINKS_JS)
    for link in links:
        url = link["url"]
        if url.startswith("https://arxiv.org/abs/"):
            continue                   # a chapter's further reading: a paper, not part of the site
        assert url.startswith("file://"), f"{page.url} links off the site: {link['href']}"
        path_part, _, fragment = url.partition("#")
        target = Path(unquote(path_part.removeprefix("file://")))
        assert target.is_file(), f"{page.url}: broken link {link['href']}"
        assert root in target.parents, f"{page.url}: {link['href']} leaves the site"
        if fragment and target.suffix == ".html":
            html = target.read_text(encoding="utf-8")
            assert f'id="{fragment}"' in html, f"{page.url}: no anchor #{fragment}"
    return len(links)

