"""The learner's progress report: per chapter, the quiz questions whose latest answer was
right, the exercises passed, and what to revisit.

:func:`progress` reads what :mod:`course_utils.learner.progress_store` kept and sets it against
the course's quizzes (``quizzes/*.yaml``) and exercises; ``reset_progress()`` (in the store)
forgets everything.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from .exercises import EXERCISE_CHAPTERS
from .progress_store import load_progress, progress_file, real_path
from .quiz import load_quiz_file, quiz_dir

__all__ = ["progress", "ChapterProgress", "ProgressReport"]


def _shown(path: Path) -> str:
    """The path as a learner would type it: ``~/…`` inside the home folder."""
    try:
        return str(Path("~") / real_path(path).relative_to(real_path(Path.home())))
    except ValueError:
        return str(path)


@dataclass
class ChapterProgress:
    """One chapter: quiz questions right (latest answer) of the total, exercises passed of the
    total, and what to revisit."""

    chapter: str
    questions: int
    right: int
    exercises: int
    passed: int
    revisit: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return bool(self.right or self.passed or self.revisit)


@dataclass
class ProgressReport:
    """What :func:`progress` shows: one :class:`ChapterProgress` per chapter, and the file."""

    chapters: list[ChapterProgress]
    path: Path

    def __repr__(self) -> str:
        lines = [f"{'chapter':30s} {'quiz right':>11s} {'exercises':>10s}  revisit"]
        for c in self.chapters:
            lines.append(f"{c.chapter:30s} {c.right:>5d} / {c.questions:<3d} "
                         f"{c.passed:>4d} / {c.exercises:<3d}  {', '.join(c.revisit) or '—'}")
        lines.append(f"(kept in {_shown(self.path)})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(c.chapter)}</td><td>{c.right} / {c.questions}</td>"
            f"<td>{c.passed} / {c.exercises}</td><td>{esc(', '.join(c.revisit)) or '—'}</td></tr>"
            for c in self.chapters)
        return ("<table class='course-progress'><thead><tr><th>chapter</th><th>quiz right</th>"
                "<th>exercises passed</th><th>revisit</th></tr></thead>"
                f"<tbody>{rows}</tbody></table><p><small>Kept in {esc(_shown(self.path))}; "
                "<code>reset_progress()</code> forgets it.</small></p>")


PROMPT_WORDS = 5  # how much of a question's prompt names it in the revisit list


def _question_label(number: int, prompt: str) -> str:
    """A quiz question as the learner sees it: its number in the chapter's quiz and the
    first words of its prompt, e.g. ``question 3 «Which of these are steps…»``."""
    words = prompt.split()
    start = " ".join(words[:PROMPT_WORDS])
    return f"question {number} «{start}{'…' if len(words) > PROMPT_WORDS else ''}»"


def progress() -> ProgressReport:
    """Per chapter: the quiz questions whose latest answer was right, the exercises passed,
    and what to revisit (questions last answered wrong, by their number in the chapter's quiz
    and the first words of their prompt; exercises tried but not passed)."""
    path = progress_file()
    data = load_progress(path)
    quizzes = {p.stem: load_quiz_file(p) for p in sorted(quiz_dir().glob("*.yaml"))}
    chapters = sorted(set(quizzes) | set(EXERCISE_CHAPTERS.values()))
    report = []
    for chapter in chapters:
        answers = data["quizzes"].get(chapter, {})
        questions = quizzes[chapter].questions if chapter in quizzes else []
        right = sum(bool(answers.get(q.id, {}).get("correct")) for q in questions)
        revisit = [_question_label(number, q.prompt) for number, q in enumerate(questions, 1)
                   if q.id in answers and not answers[q.id].get("correct")]
        names = sorted(n for n, c in EXERCISE_CHAPTERS.items() if c == chapter)
        done = {n: data["exercises"].get(n, {}) for n in names}
        passed = sum(bool(d.get("passed")) for d in done.values())
        revisit += [f"exercise {n}" for n, d in done.items() if d and not d.get("passed")]
        report.append(ChapterProgress(chapter, len(questions), right, len(names), passed,
                                      revisit))
    return ProgressReport(report, path)
