"""Build the course as a static website, offline: ``make site`` (or
``python tools/build_site.py [--out FOLDER]``).

``build/site/`` gets ``index.html`` (the chapter map), ``chapters/<chapter>.html`` (every
chapter with its saved outputs and figures; the quizzes' answers folded under *Show the
answer*), ``slides/<chapter>.slides.html`` (the chapter's deck, as ``make slides``),
``glossary.html`` (the notes' terms in English and Chinese, from ``docs/glossary.yaml``: the
chapters' links to ``docs/glossary.md`` point at it, see ``glossary.py``),
``teaching.html`` (the instructor guide, ``docs/teaching.md``) and ``vendor/`` (MathJax and
reveal.js). Every page is built from files in the repository with nbconvert, Jinja and
mistune: no theme, template or script is downloaded, and the pages load nothing from the
network. Open ``build/site/index.html`` in a browser, or serve the folder.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

import jinja2
import mistune
from build_decks import build_deck
from glossary import chapter_titles, glossary_html, load_glossary, relink
from nbconvert import HTMLExporter
from web_export import (
    BUILD,
    ROOT,
    TEMPLATES,
    chapter_title,
    chapters,
    copy_vendor,
    course_css,
    fresh_folder,
    read,
)

GUIDE = ROOT / "docs" / "teaching.md"
SITE_TITLE = "Attention, from memory to Transformers"
# Every page escapes what it writes: the guide's raw HTML shows as text (it uses none), and
# the page template escapes all but the HTML it marks | safe (the bar and the body).
markdown = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
pages = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


def nav(root: str, here: str, previous: tuple[str, str] | None = None,
        following: tuple[str, str] | None = None, slides: str | None = None) -> str:
    """The navigation bar; ``root`` is the path from the page to the site's top folder."""
    esc = html.escape
    links = [("index.html", "Course map"), ("glossary.html", "Glossary"),
             ("teaching.html", "Teaching guide")]
    items = [f'<a href="{root}/{href}"{" aria-current=page" if href == here else ""}>'
             f"{label}</a>" for href, label in links]
    if slides:
        items.append(f'<a href="{esc(slides)}">Slides</a>')
    pager = []
    if previous:
        pager.append(f'<a href="{esc(previous[0])}" rel="prev">← {esc(previous[1])}</a>')
    if following:
        pager.append(f'<a href="{esc(following[0])}" rel="next">{esc(following[1])} →</a>')
    if pager:
        items.append(f'<span class="course-nav-pager">{"".join(pager)}</span>')
    return f'<nav class="course-nav">{"".join(items)}</nav>'


def write_page(out: Path, name: str, title: str, body: str) -> None:
    page = pages.get_template("site_page.html.j2").render(
        title=title, root=".", nav=nav(".", name), body=body)
    (out / name).write_text(page, encoding="utf-8")


def chapter_page(path: Path, out: Path, previous, following) -> None:
    """``out/chapters/<stem>.html``: the chapter with its saved outputs, without the speaker
    notes cells (they are for the slides)."""
    notebook = read(path)
    notebook.cells = [c for c in notebook.cells
                      if c.metadata.get("slideshow", {}).get("slide_type") != "notes"]
    exporter = HTMLExporter(template_name="course_page",
                            extra_template_basedirs=[str(TEMPLATES)],
                            extra_template_paths=[str(TEMPLATES)])
    bar = nav("..", "", previous, following, slides=f"../slides/{path.stem}.slides.html")
    resources = {"course": {"vendor": "../vendor", "root": "..", "nav": bar},
                 "metadata": {"name": chapter_title(notebook)}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    (out / "chapters" / f"{path.stem}.html").write_text(relink(body, "../glossary.html"),
                                                        encoding="utf-8")


def where_it_sits(notebook) -> str:
    """The title cell's "Where this sits in the notes" paragraph, as HTML ('' if none)."""
    for paragraph in notebook.cells[0].source.split("\n\n"):
        if paragraph.lstrip().startswith("**Where this sits"):
            return relink(markdown(paragraph), "glossary.html")
    return ""


def index_page(out: Path) -> None:
    items = []
    for path in chapters():
        notebook, stem = read(path), html.escape(path.stem)
        items.append(f'<li><a href="chapters/{stem}.html">'
                     f"{html.escape(chapter_title(notebook))}</a> · "
                     f'<a href="slides/{stem}.slides.html">slides</a>'
                     f'<div class="course-where">{where_it_sits(notebook)}</div></li>')
    body = (f"<h1>{SITE_TITLE}</h1>\n"
            "<p>An interactive course on attention, from memory to the Transformer, built "
            "from a set of lecture notes. These pages show every chapter as it was last run, "
            "with its outputs and figures; the widgets appear as pictures and the quizzes' "
            "answers are folded away. To run the code, drag the sliders and have your "
            "answers graded, open the notebooks in JupyterLab (<code>make lab</code>).</p>\n"
            "<h2>Chapter map</h2>\n"
            f'<ol class="course-chapters">\n{"".join(items)}\n</ol>\n'
            '<p>Also: the <a href="glossary.html">glossary</a> of the notes\' terms in English '
            'and Chinese, and the <a href="teaching.html">instructor guide</a>.</p>')
    write_page(out, "index.html", "Course map", body)


def glossary_page(out: Path) -> None:
    write_page(out, "glossary.html", "Glossary", glossary_html(load_glossary(), chapter_titles()))


def site_href(href: str) -> str:
    """Where a link of the guide points on the site (a notebook → its chapter page, the
    glossary beside it, ``glossary.md``, → the glossary page)."""
    match = re.fullmatch(r"(?:\.\./)?notebooks/(\d\d_\w+)\.ipynb(#.*)?", href)
    if match:
        return f"chapters/{match[1]}.html{match[2] or ''}"
    match = re.fullmatch(r"glossary\.md(#.*)?", href)
    if match:
        return f"glossary.html{match[1] or ''}"
    if href.startswith(("#", "http://", "https://", "mailto:")):
        return href
    raise ValueError(f"{GUIDE.name} links to {href!r}, which the site has no page for")


def guide_html(text: str) -> str:
    """The teaching page's body: the guide's markdown, its links pointed at the site's pages."""
    body = markdown(text)
    return re.sub(r'href="([^"]*)"',
                  lambda m: f'href="{html.escape(site_href(html.unescape(m[1])))}"', body)


def teaching_page(out: Path) -> None:
    write_page(out, "teaching.html", "Teaching guide",
               guide_html(GUIDE.read_text(encoding="utf-8")))


def build(out: Path) -> list[Path]:
    """Write the whole site to ``out`` (emptied first); returns its HTML pages."""
    fresh_folder(out)
    copy_vendor(out)
    (out / "course.css").write_text(course_css(), encoding="utf-8")
    (out / "chapters").mkdir()
    (out / "slides").mkdir()
    paths = chapters()
    for i, path in enumerate(paths):
        previous = following = None
        if i > 0:
            previous = (f"{paths[i - 1].stem}.html", chapter_title(read(paths[i - 1])))
        if i + 1 < len(paths):
            following = (f"{paths[i + 1].stem}.html", chapter_title(read(paths[i + 1])))
        chapter_page(path, out, previous, following)
        build_deck(path, out / "slides", vendor="../vendor", glossary="../glossary.html")
    index_page(out)
    glossary_page(out)
    teaching_page(out)
    return sorted(out.rglob("*.html"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUILD / "site",
                        help="the folder to write (emptied first; default build/site)")
    args = parser.parse_args(argv)
    built = build(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(built)} pages ({size / 1e6:.1f} MB with vendor/) in {args.out}; "
          f"open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
