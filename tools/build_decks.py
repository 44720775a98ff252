"""Build an offline reveal.js slide deck of every chapter from its committed outputs:
``make slides`` (or ``python tools/build_decks.py [--out FOLDER]``).

Each deck is ``build/slides/<chapter>.slides.html`` (``jupyter nbconvert --to slides`` with the
course's template, ``tools/templates/course_slides``), beside a ``vendor/`` folder holding
reveal.js and MathJax: copy the whole ``build/slides`` folder to a USB stick and a deck opens
in a browser with no network. Slides follow the cells' slide metadata (``tag_slides.py``).
The speaker notes (``s`` in the deck opens reveal.js's speaker view) are not in the learner's
notebooks: each deck is built from a copy of its chapter with the notes of its lecture plan in
``docs/teaching.md`` inserted (``tag_slides.lecturer_copy``). Nothing is executed: the deck
shows the outputs saved in the notebook, the explorers as their pictures. The chapters' links
to the glossary open ``glossary.html``, written beside the decks (each term's chapter there
links to its deck).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from glossary import chapter_titles, glossary_html, load_glossary, relink
from nbconvert import SlidesExporter
from tag_slides import chapter_plan, lecturer_copy
from web_export import (
    BUILD,
    TEMPLATES,
    chapter_title,
    chapters,
    copy_vendor,
    fonts_css,
    fresh_folder,
    read,
)


def slide_count(notebook) -> int:
    """The deck's number of slides: every cell that opens a slide or a subslide."""
    return sum(c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide")
               for c in notebook.cells)


def build_deck(path: Path, out: Path, vendor: str = "vendor",
               glossary: str = "glossary.html") -> tuple[Path, int]:
    """Write ``out/<stem>.slides.html`` for the chapter at ``path``, with its speaker notes
    (the lecturer's copy, ``tag_slides.lecturer_copy``); returns it and its slide count.
    ``vendor`` is where the deck finds the vendored scripts (``copy_vendor``) and ``glossary``
    the glossary page, both relative to ``out``."""
    notebook = lecturer_copy(read(path), chapter_plan(path))
    exporter = SlidesExporter(template_name="course_slides",
                              extra_template_basedirs=[str(TEMPLATES)],
                              extra_template_paths=[str(TEMPLATES)],
                              reveal_url_prefix=f"{vendor}/reveal.js", reveal_theme="white")
    title = chapter_title(notebook)
    resources = {"course": {"vendor": vendor, "title": title}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    # nbconvert's template titles every deck "Notebook slides": the tab shows the chapter.
    body = re.sub(r"<title>.*?</title>", lambda _: f"<title>{html.escape(title)}</title>",
                  body, count=1, flags=re.S)
    target = out / f"{path.stem}.slides.html"
    target.write_text(relink(body, glossary), encoding="utf-8")
    return target, slide_count(notebook)


def write_glossary(out: Path) -> None:
    """``out/glossary.html``, the page the decks' glossary links open: each term's chapter
    links to its deck."""
    body = glossary_html(load_glossary(), chapter_titles(), lambda stem: f"{stem}.slides.html")
    out.joinpath("glossary.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Attention, from memory to Transformers: glossary</title>"
        f"\n<style>\n{fonts_css()}</style></head>\n<body>"
        f'<p><a href="index.html">Slide decks</a></p>\n{body}\n</body></html>\n',
        encoding="utf-8")


def write_index(out: Path, decks: list[tuple[str, Path, int]]) -> None:
    """A page listing the decks, so the folder opens on something."""
    rows = "\n".join(f'<li><a href="{html.escape(deck.name)}">{html.escape(title)}</a> '
                     f"({count} slides)</li>"
                     for title, deck, count in decks)
    out.joinpath("index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Attention, from memory to Transformers: slides</title>"
        f"\n<style>\n{fonts_css()}</style></head>\n<body>"
        "<h1>Attention, from memory to Transformers: slide decks</h1>\n"
        "<p>Open a deck; arrows move, <b>s</b> opens the speaker notes, <b>?</b> lists the "
        f"keys.</p>\n<ol>\n{rows}\n</ol>\n"
        '<p>The notes\' terms in English and Chinese: the <a href="glossary.html">glossary</a>.'
        "</p>\n</body></html>\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUILD / "slides",
                        help="the folder to write (emptied first; default build/slides)")
    args = parser.parse_args(argv)
    out = fresh_folder(args.out)
    copy_vendor(out)
    decks = []
    for path in chapters():
        deck, count = build_deck(path, out)
        decks.append((chapter_title(read(path)), deck, count))
        print(f"{deck.name:45s} {count:3d} slides  {deck.stat().st_size / 1e6:5.2f} MB")
    write_index(out, decks)
    write_glossary(out)
    print(f"{len(decks)} decks in {out}; open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
