"""Quizzes: questions in ``quizzes/NN_topic.yaml``, graded in plain Python or as widgets.

A quiz file::

    title: Attention and memory
    questions:
      - id: memory-input            # unique within the file
        kind: single                # single | multiple | numeric
        source: course              # notes = the lecture notes' own question
        prompt: Which part of a network plays the role of sensory memory?
        options:
          - {id: a, text: The input layer, correct: true, explanation: ...}
          - {id: b, text: The weights, correct: false, explanation: ...}
        explanation: Why, in a sentence or two.
      - id: weight
        kind: numeric
        source: course
        prompt: ...
        answer: 0.75
        tolerance: 0.01
        method: How to work it out, for any wrong number.
        mistakes:                   # likely wrong numbers, each with a hint aimed at it
          - {answer: 0.25, explanation: That is the first key's weight.}
        explanation: ...

Options are shown in the file's order, labelled by their ids: write the ids a, b, c, … in
that order, and spread the right option over the positions (``tests/test_quiz_balance.py``
keeps the course's quizzes balanced). A wrong numeric answer gets the hint of the listed
mistake it matches, or else "too high" / "too low" and the question's ``method``.

The file is validated by a pydantic schema; a malformed file raises :class:`QuizFormatError`
naming the file, the question and the field. So does a file that cannot be read (missing, a
folder, not UTF-8) or parsed (not YAML, nested too deeply), and a key written twice in one
mapping (YAML would keep the last one silently).

* :func:`load_quiz` reads and validates a quiz,
* :func:`check` grades one answer and returns :class:`Feedback`,
* :func:`show_quiz` displays the quiz as widgets (radio buttons, checkboxes or a number box
  with a *Check* button). Saved without a kernel (GitHub, HTML), the output still shows
  every question, with the answers folded away in a ``<details>`` block.

Each answer graded for a chapter (by :func:`check`, or a *Check* button of a chapter's quiz)
is recorded, right or wrong, in the learner's progress file outside the course folder
(:mod:`course_utils.learner.progress_store`); :func:`course_utils.progress` shows it.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .progress_store import record_quiz

__all__ = [
    "Option",
    "Mistake",
    "Question",
    "Quiz",
    "Feedback",
    "QuizFormatError",
    "quiz_dir",
    "quiz_path",
    "load_quiz",
    "load_quiz_file",
    "check",
    "show_quiz",
    "QuizView",
]

NonEmpty = Annotated[str, Field(min_length=1)]


# --------------------------------------------------------------------------- schema
class Option(BaseModel):
    """One choice of a ``single`` or ``multiple`` question."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: NonEmpty
    text: NonEmpty
    correct: bool
    explanation: NonEmpty


class Mistake(BaseModel):
    """A likely wrong answer to a numeric question, with a hint aimed at it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    answer: float
    explanation: NonEmpty


class Question(BaseModel):
    """One question; ``options`` for single/multiple, ``answer`` + ``tolerance`` for numeric.

    A numeric question may also list likely wrong answers (``mistakes``, each with a hint)
    and a ``method``: how to work the answer out, the hint for any other wrong number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: NonEmpty
    kind: Literal["single", "multiple", "numeric"]
    prompt: NonEmpty
    source: Literal["notes", "course"]
    options: list[Option] | None = None
    answer: float | None = None
    tolerance: Annotated[float, Field(ge=0)] | None = None
    mistakes: list[Mistake] = []
    method: NonEmpty | None = None
    explanation: NonEmpty

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Question:
        if self.kind == "numeric":
            if self.answer is None or not math.isfinite(self.answer):
                raise ValueError("a numeric question needs a finite 'answer'")
            if self.tolerance is None:
                raise ValueError("a numeric question needs a 'tolerance' (0 for exact)")
            if self.options is not None:
                raise ValueError("a numeric question takes no 'options'")
            if any(_within(m.answer, self.answer, self.tolerance) for m in self.mistakes):
                raise ValueError("a 'mistakes' answer is within the tolerance of the answer")
            return self
        if self.mistakes:
            raise ValueError(f"a {self.kind} question takes no 'mistakes' (explain each option)")
        if self.method is not None:
            raise ValueError(f"a {self.kind} question takes no 'method' (explain each option)")
        if self.answer is not None or self.tolerance is not None:
            raise ValueError(f"a {self.kind} question takes 'options', not 'answer'/'tolerance'")
        if not self.options or len(self.options) < 2:
            raise ValueError(f"a {self.kind} question needs at least two 'options'")
        ids = [o.id for o in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError(f"option ids must be unique, got {ids}")
        n_correct = sum(o.correct for o in self.options)
        if self.kind == "single" and n_correct != 1:
            raise ValueError(f"a single question needs exactly one correct option, has {n_correct}")
        if self.kind == "multiple" and n_correct < 1:
            raise ValueError("a multiple question needs at least one correct option")
        return self

    @property
    def correct_ids(self) -> list[str]:
        """Ids of the correct options (empty for numeric questions)."""
        return [o.id for o in self.options or [] if o.correct]

    def option(self, option_id: str) -> Option:
        for opt in self.options or []:
            if opt.id == option_id:
                return opt
        valid = ", ".join(repr(o.id) for o in self.options or [])
        raise ValueError(f"question {self.id!r} has no option {option_id!r}; options are {valid}")


class Quiz(BaseModel):
    """A chapter's quiz: a title and its questions (ids unique)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: NonEmpty
    questions: Annotated[list[Question], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Quiz:
        ids = [q.id for q in self.questions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"question ids must be unique, repeated: {dupes}")
        return self

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        valid = ", ".join(repr(q.id) for q in self.questions)
        raise ValueError(f"quiz {self.title!r} has no question {question_id!r}; ids are {valid}")


class QuizFormatError(ValueError):
    """A quiz file that does not follow the schema: names the file, question and field."""


# --------------------------------------------------------------------------- loading
def quiz_dir() -> Path:
    """The folder of quiz files: ``$COURSE_QUIZ_DIR`` if set, else ``quizzes/`` of the course."""
    override = os.environ.get("COURSE_QUIZ_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "quizzes"


def quiz_path(chapter: str) -> Path:
    """``"01_attention_and_memory"`` → the path of its YAML file (which must exist)."""
    if not isinstance(chapter, str) or not chapter or "/" in chapter or "\\" in chapter:
        raise ValueError(f"chapter must be a quiz file's stem like '01_attention_and_memory', "
                         f"got {chapter!r}")
    path = quiz_dir() / f"{chapter}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in quiz_dir().glob("*.yaml"))
        raise FileNotFoundError(f"no quiz {chapter!r} ({path.name}); known quizzes: {known}")
    return path


def _describe_error(path: Path, raw: object, error: dict) -> str:
    loc = list(error["loc"])
    where = "top level"
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        index = loc[1]
        qid = None
        if isinstance(raw, dict) and isinstance(raw.get("questions"), list):
            items = raw["questions"]
            if index < len(items) and isinstance(items[index], dict):
                qid = items[index].get("id")
        where = f"question {qid!r} (#{index + 1})" if qid else f"question #{index + 1}"
        loc = loc[2:]
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a rule about the question (or the file) as a whole
        return f"{path.name}: {where}: {message}"
    field = ".".join(str(part) for part in loc)
    return f"{path.name}: {where}, field {field}: {message}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error (PyYAML
    keeps the last one, so a question with ``prompt`` twice would lose a prompt silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor`` may override keys
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # the safe loader reports it below
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> object:
    """The YAML document in ``path``; anything unreadable is a :class:`QuizFormatError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise QuizFormatError(f"{path.name}: not UTF-8 text ({exc}); save it as UTF-8") from None
    except OSError as exc:
        raise QuizFormatError(f"{path.name}: cannot be read ({exc})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise QuizFormatError(f"{path.name}: not valid YAML: {exc}") from exc
    except RecursionError:
        raise QuizFormatError(f"{path.name}: not valid YAML: nested too deeply") from None


def load_quiz_file(path: str | Path) -> Quiz:
    """Read and validate one quiz YAML file; raise :class:`QuizFormatError` if malformed."""
    path = Path(path)
    raw = _read_yaml(path)
    try:
        return Quiz.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe_error(path, raw, err) for err in exc.errors()]
        raise QuizFormatError("\n".join(lines)) from None


@cache
def _load_cached(path: Path, mtime: float) -> Quiz:
    return load_quiz_file(path)


def load_quiz(chapter: str) -> Quiz:
    """The validated quiz of a chapter, e.g. ``load_quiz("01_attention_and_memory")``."""
    path = quiz_path(chapter)
    return _load_cached(path, path.stat().st_mtime)


# --------------------------------------------------------------------------- grading
@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``correct`` and an ``explanation`` to show the learner."""

    correct: bool
    explanation: str

    def __str__(self) -> str:
        return f"{'✓ Correct' if self.correct else '✗ Not quite'}. {self.explanation}"


TRY_AGAIN = "Try again."


def _grade_single(q: Question, answer: object) -> Feedback:
    # A wrong answer gets its own option's explanation and a second try; the question's
    # full explanation (which gives the answer away) comes with the right answer.
    if not isinstance(answer, str):
        raise TypeError(f"question {q.id!r} takes one option id (str), got {answer!r}")
    chosen = q.option(answer)
    if chosen.correct:
        return Feedback(True, f"{chosen.explanation} {q.explanation}")
    return Feedback(False, f"{chosen.explanation} {TRY_AGAIN}")


def _grade_multiple(q: Question, answer: object) -> Feedback:
    if isinstance(answer, str) or not isinstance(answer, list | tuple | set | frozenset):
        raise TypeError(f"question {q.id!r} takes a list of option ids, got {answer!r}")
    chosen = {q.option(a).id for a in answer}
    right = set(q.correct_ids)
    if chosen == right:
        return Feedback(True, q.explanation)
    wrong = [o for o in q.options if o.id in chosen - right]
    parts = [f"{o.id}) is not right: {o.explanation}" for o in wrong]
    missed = len(right - chosen)
    if missed:
        parts.append(f"You missed {missed} right option{'s' if missed > 1 else ''}.")
    return Feedback(False, f"{' '.join(parts)} {TRY_AGAIN}")


def _grade_numeric(q: Question, answer: object) -> Feedback:
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise TypeError(f"question {q.id!r} takes a number, got {answer!r}")
    try:
        answer = float(answer)
    except OverflowError:  # an int like 10**400
        return Feedback(False, f"Your answer is beyond the range of a float (±1.8e308). "
                               f"{TRY_AGAIN}")
    if not math.isfinite(answer):
        return Feedback(False, f"{answer} is not a finite number. {TRY_AGAIN}")
    if _within(answer, q.answer, q.tolerance):
        return Feedback(True, q.explanation)
    for mistake in q.mistakes:
        if _within(answer, mistake.answer, q.tolerance):
            return Feedback(False, f"{mistake.explanation} {TRY_AGAIN}")
    # Any other number: which way it is off, and how to work the answer out.
    direction = "too high" if answer > q.answer else "too low"
    if q.tolerance > 0:
        verdict = (f"Your answer {answer:g} is not within {q.tolerance:g} of the answer: it is "
                   f"{direction}.")
    else:
        verdict = f"Your answer {answer:g} is {direction}."
    hint = f" {q.method}" if q.method else ""
    return Feedback(False, f"{verdict}{hint} {TRY_AGAIN}")


def _within(answer: float, target: float, tolerance: float) -> bool:
    # A hair of slack so that an answer exactly at the tolerance (0.76 for 0.75 ± 0.01) is
    # not lost to floating-point rounding.
    return abs(answer - target) <= tolerance + 1e-9 * max(1.0, abs(target))


_GRADERS = {"single": _grade_single, "multiple": _grade_multiple, "numeric": _grade_numeric}


def grade(question: Question, answer: object) -> Feedback:
    """Grade ``answer`` to a :class:`Question` (see :func:`check`)."""
    return _GRADERS[question.kind](question, answer)


def check(chapter: str, question_id: str, answer: object) -> Feedback:
    """Grade one answer: an option id (single), a list of option ids (multiple) or a number.

    >>> check("01_attention_and_memory", "memory-sensory", "b").correct  # doctest: +SKIP
    True
    """
    result = grade(load_quiz(chapter).question(question_id), answer)
    record_quiz(chapter, question_id, result.correct)
    return result


def answer_text(question: Question) -> str:
    """The correct answer in words, for the folded static answer."""
    if question.kind == "numeric":
        return f"{question.answer:g} (± {question.tolerance:g})"
    return "; ".join(f"{o.id}) {o.text}" for o in question.options if o.correct)


# --------------------------------------------------------------------------- display
def static_quiz_html(quiz: Quiz) -> str:
    """HTML of the quiz with each answer folded in a ``<details>`` block (no kernel needed)."""
    esc = html.escape
    items = []
    for q in quiz.questions:
        tag = " <em>(from the notes)</em>" if q.source == "notes" else ""
        opts = "".join(f"<li><b>{esc(o.id)})</b> {esc(o.text)}</li>" for o in q.options or [])
        kind = {"single": "choose one", "multiple": "choose all that apply",
                "numeric": "a number"}[q.kind]
        items.append(
            f"<li><p>{esc(q.prompt)}{tag} <small>({kind})</small></p>"
            + (f"<ul style='list-style:none'>{opts}</ul>" if opts else "")
            + f"<details><summary>Show the answer</summary><p><b>Answer:</b> "
            f"{esc(answer_text(q))}</p><p>{esc(q.explanation)}</p></details></li>"
        )
    return (f"<div class='course-quiz'><h4>Quiz: {esc(quiz.title)}</h4>"
            f"<ol>{''.join(items)}</ol></div>")


class QuestionWidget:
    """Widgets for one question: its input, a *Check* button and a feedback line."""

    def __init__(self, question: Question, number: int, chapter: str | None = None) -> None:
        import ipywidgets as w

        self.question, self.chapter = question, chapter
        tag = " <em>(from the notes)</em>" if question.source == "notes" else ""
        self.prompt = w.HTMLMath(f"<b>{number}.</b> {html.escape(question.prompt)}{tag}")
        layout = w.Layout(width="auto")
        if question.kind == "single":
            self.input = w.RadioButtons(
                options=[(f"{o.id}) {o.text}", o.id) for o in question.options],
                value=None, layout=layout)
            inputs = [self.input]
        elif question.kind == "multiple":
            self.boxes = {o.id: w.Checkbox(value=False, description=f"{o.id}) {o.text}",
                                           indent=False, layout=layout)
                          for o in question.options}
            inputs = list(self.boxes.values())
        else:
            # A text box, not FloatText: FloatText turns "nothing entered" into 0.0.
            self.input = w.Text(value="", placeholder="a number", description="Answer:",
                                layout=w.Layout(width="16em"))
            inputs = [self.input]
        # A fixed size that never shrinks: a long feedback beside it would otherwise squeeze
        # the button (flex-shrink) down to "Ch…". The feedback takes the rest of the row.
        self.button = w.Button(description="Check", button_style="primary",
                               layout=w.Layout(width="8em", min_width="8em", flex="0 0 auto"))
        self.feedback = w.HTML("", layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.button.on_click(lambda _: self.check())
        self.box = w.VBox([self.prompt, *inputs, w.HBox([self.button, self.feedback])],
                          layout=w.Layout(margin="0 0 1em 0"))
        self.box.add_class("course-quiz-question")

    def answer(self) -> object:
        """The learner's current answer, in the form :func:`check` takes (None: none yet).

        Raises ``ValueError`` when the number box holds text that is not a number.
        """
        if self.question.kind == "multiple":
            return [oid for oid, box in self.boxes.items() if box.value]
        if self.question.kind == "numeric":
            text = str(self.input.value).strip()
            return float(text) if text else None
        return self.input.value

    def check(self) -> Feedback | None:
        """Grade the current answer and show the verdict (None when nothing is chosen)."""
        try:
            answer = self.answer()
        except ValueError:
            self.feedback.value = ("<span style='color:#b3261e'>Enter a number, e.g. 0.5 "
                                   "or 1e-3.</span>")
            return None
        if answer is None:
            self.feedback.value = "<span style='color:#555'>Choose an answer first.</span>"
            return None
        result = grade(self.question, answer)
        if self.chapter is not None:  # remembered for course_utils.progress()
            record_quiz(self.chapter, self.question.id, result.correct)
        color, mark = ("#1a7f37", "✓ Correct.") if result.correct else ("#b3261e", "✗ Not quite.")
        self.feedback.value = (f"<span class='quiz-verdict' style='color:{color}'><b>{mark}</b>"
                               f"</span> {html.escape(result.explanation)}")
        return result


# ipywidgets draws each radio option and checkbox on one line of fixed height: a long option
# would run over the next one (and hide its button). Let the options wrap, one below the other.
_WRAP_OPTIONS_CSS = """<style>
.course-quiz-question .widget-radio-box label,
.course-quiz-question .widget-checkbox label {
  height: auto; line-height: 1.35; white-space: normal; display: flex; align-items: flex-start;
  gap: 0.4em; margin: 0.15em 0; overflow: visible;
}
.course-quiz-question .widget-radio-box label {  /* ipywidgets puts the button after the text */
  flex-direction: row-reverse; justify-content: flex-end;
}
.course-quiz-question .widget-checkbox { height: auto; }
.course-quiz-question .widget-checkbox span { white-space: normal; overflow: visible; }
.course-quiz-question .widget-radio-box input,
.course-quiz-question .widget-checkbox input { flex: none; margin-top: 0.2em; }
</style>"""


class QuizView:
    """A chapter's quiz as widgets; its saved output falls back to :func:`static_quiz_html`."""

    def __init__(self, chapter: str) -> None:
        import ipywidgets as w

        self.chapter = chapter
        self.quiz = load_quiz(chapter)
        self.questions = [QuestionWidget(q, n, chapter)
                          for n, q in enumerate(self.quiz.questions, 1)]
        title = w.HTML(f"{_WRAP_OPTIONS_CSS}<h4>Quiz: {html.escape(self.quiz.title)}</h4>")
        self.widget = w.VBox([title, *(q.box for q in self.questions)])

    def __getitem__(self, question_id: str) -> QuestionWidget:
        for q in self.questions:
            if q.question.id == question_id:
                return q
        raise KeyError(question_id)

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # Static viewers (GitHub, nbconvert, an untrusted notebook) pick the HTML; a live
        # kernel renders the widgets. text/plain stays short and stable for nbval.
        bundle["text/html"] = static_quiz_html(self.quiz)
        bundle["text/plain"] = f"Quiz: {self.quiz.title} ({len(self.questions)} questions)"
        return bundle


def show_quiz(chapter: str) -> None:
    """Display the quiz of ``chapter`` as widgets (build a :class:`QuizView` to script it)."""
    from IPython.display import display

    display(QuizView(chapter))
