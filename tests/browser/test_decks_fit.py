"""Every deck fits a projector: opened at 1280 × 800 (``file://``, no network), each slide is
walked with the right arrow's ``Reveal.next()`` (linear navigation: the vertical sub-slides
too, in order) and nothing on it may reach below the screen's bottom or past its right edge,
nor be cut by a box that scrolls (a long code cell or a wide equation). Heights and widths are
measured in screen pixels, after reveal.js has scaled the slide. Nor may any slide be shrunk
(``fitSlide``'s CSS zoom) below ``LEGIBLE_FIT`` of its full size, unreadable from the back of a
room: ``build_decks.split_slides`` splits the tall ones. The worst and the most shrunk slide of
each deck are printed (``pytest -s``)."""

from __future__ import annotations

from pathlib import Path

import build_decks
import nbformat
import pytest
from web_export import chapters

VIEWPORT = {"width": 1280, "height": 800}
LOAD_TIMEOUT_MS = 20_000
SLACK_PX = 2  # sub-pixel rounding of the scaled slide
LEGIBLE_FIT = 0.6  # a slide shrunk more than this fails (hard to read from the back)

# The current slide's extent on the screen: the lowest bottom and rightmost right edge of
# anything drawn on it (hidden notes and empty boxes aside), and how much a box that clips
# its content (overflow auto/hidden/scroll) hides below or to the right, in screen pixels.
EXTENT_JS = """
() => {
  const slide = Reveal.getCurrentSlide();
  const scale = Reveal.getScale();
  let bottom = 0, right = 0, hidden = 0, hiddenWhat = '';
  for (const el of [slide, ...slide.querySelectorAll('*')]) {
    if (el.closest('aside.notes, mjx-assistive-mml')) continue;
    if (el.closest('details:not([open]) > :not(summary)')) continue;  // folded away
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    bottom = Math.max(bottom, r.bottom);
    right = Math.max(right, r.right);
    const cut = Math.max(el.scrollHeight - el.clientHeight, el.scrollWidth - el.clientWidth);
    const clips = ['auto', 'scroll', 'hidden'].includes(style.overflowX)
               || ['auto', 'scroll', 'hidden'].includes(style.overflowY);
    if (clips && cut > 1 && cut * scale > hidden) {
      hidden = cut * scale;
      hiddenWhat = el.tagName.toLowerCase() + '.' + [...el.classList].join('.');
    }
  }
  const indices = Reveal.getIndices();
  const heading = slide.querySelector('h1, h2, h3, h4');
  return {h: indices.h, v: indices.v || 0, bottom, right, hidden, hiddenWhat,
          heading: heading ? heading.textContent.trim().slice(0, 50) : '',
          fit: parseFloat(slide.dataset.fit || '1'),
          width: innerWidth, height: innerHeight};
}
"""


def measure_deck(page, deck: Path) -> list[dict]:
    """Open ``deck`` and walk it with ``Reveal.next()``; each slide's extent (``EXTENT_JS``)."""
    page.goto(deck.as_uri())
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                           timeout=LOAD_TIMEOUT_MS)
    page.evaluate("() => MathJax.startup.promise.then(() => fitSlide())")
    total = page.evaluate("() => Reveal.getTotalSlides()")
    slides = []
    for step in range(total):
        if step:
            page.evaluate("() => Reveal.next()")
        slides.append(page.evaluate(EXTENT_JS))
    assert page.evaluate("() => Reveal.isLastSlide()"), "the right arrow missed slides"
    return slides


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_every_slide_fits_the_screen(offline_page, built_site: Path, path: Path) -> None:
    page = offline_page
    page.set_viewport_size(VIEWPORT)
    slides = measure_deck(page, built_site / "slides" / f"{path.stem}.slides.html")
    assert len(slides) == build_decks.slide_count(nbformat.read(path, as_version=4))
    order = [(s["h"], s["v"]) for s in slides]
    assert order == sorted(order) and len(set(order)) == len(order), "not in order"

    def overflow(s: dict) -> float:
        return max(s["bottom"] - s["height"], s["right"] - s["width"], s["hidden"])

    worst = max(slides, key=overflow)
    smallest = min(slides, key=lambda s: s["fit"])
    print(f"\n{path.stem}: {len(slides)} slides, most shrunk {smallest['h']}.{smallest['v']} "
          f"{smallest['heading']!r} to {smallest['fit']:.2f}; worst {worst['h']}.{worst['v']} "
          f"{worst['heading']!r}: bottom {worst['bottom']:.0f}/{worst['height']}, "
          f"right {worst['right']:.0f}/{worst['width']}, "
          f"hidden {worst['hidden']:.0f} ({worst['hiddenWhat']})")
    small = [f"{s['h']}.{s['v']} {s['heading'][:30]!r} {s['fit']:.2f}"
             for s in slides if s["fit"] < LEGIBLE_FIT]
    if small:  # long cells that build_decks.split_slides did not split enough
        print(f"  shrunk below {LEGIBLE_FIT}: {small}")
    bad = [f"{s['h']}.{s['v']} {s['heading']!r}: {overflow(s):.0f} px"
           + (f" hidden in {s['hiddenWhat']}" if s["hidden"] > SLACK_PX else "")
           for s in slides if overflow(s) > SLACK_PX]
    assert not bad, f"{path.stem}: slides that do not fit 1280 × 800: {bad}"
    assert not small, f"{path.stem}: slides shrunk below {LEGIBLE_FIT} of full size: {small}"
    assert page.blocked == [], f"the deck tried the network: {page.blocked}"
