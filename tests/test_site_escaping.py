"""Every field the course site writes into a page is escaped (tools/build_site.py,
build_decks.py): markup injected into the glossary, a quiz or the instructor guide shows as
text and never becomes an element. The pages are built from made-up inputs in a temporary
folder, not from the course's files. (A notebook's own markdown cells are the authors' HTML and
are rendered as such, on purpose.)"""

from __future__ import annotations

from html.parser import HTMLParser

import build_decks
import build_site
import glossary
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.learner.quiz import Quiz, static_quiz_html

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><script>alert(1)</script>'      # out of an attribute value, then a script
UNSAFE_NAME = '"><script>alert(1)<'              # the same in a file name (no "/")
MARKUP = "a & b <i>"
INJECTED = (SCRIPT, BREAKOUT, MARKUP)


class Page(HTMLParser):
    """What a browser would make of a page: its scripts' contents, its text and its tags."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        self.in_script = False

    def handle_data(self, data):
        (self.scripts if self.in_script else self.text).append(data)


def assert_escaped(text: str, shown: tuple[str, ...] = INJECTED) -> None:
    page = Page(text)
    assert "alert(1)" not in "".join(page.scripts), "an injected <script> became an element"
    assert "i" not in page.tags, "an injected <i> became an element"
    words = "".join(page.text)
    for value in shown:
        assert value in words, f"{value!r} is not shown as text"


def test_glossary_escapes_every_column(tmp_path):
    terms = [glossary.Term(english=e, chinese=c, source=s, chapter=ch, meaning=m)
             for e, c, s, ch, m in [(SCRIPT, "注意力", "notes", "01_a", "x"),
                                    ("Attention", SCRIPT, "course", "01_a", "x"),
                                    ("Attention", MARKUP, "notes", "01_a", BREAKOUT),
                                    ("Key", "键", "course", BREAKOUT, SCRIPT)]]
    titles = {"01_a": MARKUP, BREAKOUT: BREAKOUT}
    build_site.write_page(tmp_path, "glossary.html", f"</title>{SCRIPT}",
                          glossary.glossary_html(terms, titles))
    assert_escaped((tmp_path / "glossary.html").read_text(encoding="utf-8"))


def test_guide_escapes_raw_html_and_link_targets(tmp_path):
    link = "&amp;quot;&amp;gt;&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;"
    guide = (f"# The guide {SCRIPT}\n\n{SCRIPT}\n\nSay {MARKUP} and [{SCRIPT}](#x{link}).\n\n"
             f"| plan | note |\n|---|---|\n| {SCRIPT} | {MARKUP} |\n")
    build_site.write_page(tmp_path, "teaching.html", "Teaching guide",
                          build_site.guide_html(guide))
    assert_escaped((tmp_path / "teaching.html").read_text(encoding="utf-8"), (SCRIPT, MARKUP))


def test_quiz_fields_are_escaped_on_the_chapter_page_and_in_the_deck(tmp_path):
    """A quiz reaches the site as the saved output of show_quiz, whose HTML is
    static_quiz_html's; nbconvert writes an output's HTML as it is."""
    option = {"text": SCRIPT, "explanation": SCRIPT}
    quiz = Quiz(title=SCRIPT, questions=[
        {"id": "q1", "kind": "single", "source": "notes", "prompt": f"{SCRIPT} {MARKUP}",
         "options": [{"id": "a", "correct": True, **option},
                     {"id": BREAKOUT, "correct": False, **option}],
         "explanation": SCRIPT},
        {"id": "q2", "kind": "numeric", "source": "course", "prompt": MARKUP, "answer": 1.0,
         "tolerance": 0.1, "mistakes": [{"answer": 2.0, "explanation": SCRIPT}],
         "explanation": BREAKOUT}])
    output = new_output("display_data", data={"text/html": static_quiz_html(quiz),
                                              "text/plain": "QuizView()"})
    notebook = new_notebook(cells=[new_markdown_cell("# Chapter 99 · Escaping"),
                                   new_code_cell("import torch"),   # the set-up: not a slide
                                   new_code_cell('show_quiz("99_escaping")', outputs=[output])])
    path = tmp_path / "99_escaping.ipynb"
    nbformat.write(notebook, path)
    (tmp_path / "chapters").mkdir()
    build_site.chapter_page(path, tmp_path, (f"{UNSAFE_NAME}.html", SCRIPT),
                            (f"{UNSAFE_NAME}.html", BREAKOUT))
    assert_escaped((tmp_path / "chapters" / "99_escaping.html").read_text(encoding="utf-8"))
    deck, _ = build_decks.build_deck(path, tmp_path)
    assert_escaped(deck.read_text(encoding="utf-8"))


def test_index_escapes_chapter_titles_and_where_they_sit(tmp_path, monkeypatch):
    title = f"# Chapter 99 · {SCRIPT}\n\n**Where this sits in the notes:** {SCRIPT} {MARKUP}"
    path = tmp_path / f"99_{UNSAFE_NAME}.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell(title)]), path)
    monkeypatch.setattr(build_site, "chapters", lambda: [path])
    build_site.index_page(tmp_path)
    assert_escaped((tmp_path / "index.html").read_text(encoding="utf-8"), (SCRIPT, MARKUP))


def test_deck_index_escapes_titles_and_file_names(tmp_path):
    build_decks.write_index(tmp_path, [(SCRIPT, tmp_path / f"{UNSAFE_NAME}.slides.html", 3),
                                       (MARKUP, tmp_path / "x.slides.html", 1)])
    assert_escaped((tmp_path / "index.html").read_text(encoding="utf-8"), (SCRIPT, MARKUP))
