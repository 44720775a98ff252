"""Self-study progress: the quiz answers and exercise results of a learner, remembered between
sessions.

Every *Check* of a quiz question and every checked exercise (right or wrong; an unfinished
"not yet" is not an attempt) is written to a small JSON file in the user's data directory
(``platformdirs.user_data_dir("attention-course")/progress.json``; the environment variable
``COURSE_PROGRESS_FILE`` names another file), never into the course folder. The file is
written atomically (a temporary file, then a rename); a missing file is an empty record, and a
corrupt one is reported, kept aside as ``progress.json.corrupt`` and replaced — recording
never stops a notebook.

``progress()`` shows, per chapter, the quiz questions whose last answer was right, the
exercises passed and what to revisit; ``reset_progress()`` forgets everything.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["progress_file", "record_quiz", "record_exercise", "load_progress", "progress",
           "reset_progress", "ChapterProgress", "ProgressReport"]

ENV = "COURSE_PROGRESS_FILE"
VERSION = 1


def progress_file() -> Path:
    """Where progress is kept: ``$COURSE_PROGRESS_FILE``, or ``progress.json`` in the user's
    data directory (e.g. ``~/.local/share/attention-course`` on Linux)."""
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("attention-course", appauthor=False)) / "progress.json"


def _empty() -> dict:
    return {"version": VERSION, "quizzes": {}, "exercises": {}}


def _valid(data: object) -> bool:
    return (isinstance(data, dict) and data.get("version") == VERSION
            and isinstance(data.get("quizzes"), dict) and isinstance(data.get("exercises"), dict)
            and all(isinstance(v, dict) for v in data["quizzes"].values()))


def load_progress(path: Path | None = None) -> dict:
    """The recorded progress ``{"version", "quizzes": {chapter: {question: {...}}},
    "exercises": {name: {...}}}``; empty when there is no file. A file that cannot be read as
    such is reported (a warning naming it), moved to ``<name>.corrupt`` and replaced by an
    empty record."""
    path = progress_file() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if _valid(data):
        return data
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        kept = f"it was kept as {aside}"
    except OSError as exc:
        kept = f"it could not be moved aside ({exc})"
    warnings.warn(f"the progress file {path} could not be read; starting a new one ({kept})",
                  stacklevel=2)
    return _empty()


def _save(data: dict, path: Path) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".progress-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _update(change) -> None:  # noqa: ANN001
    """Load, apply ``change(data)``, save; a failure is a warning, never an exception."""
    path = progress_file()
    try:
        data = load_progress(path)
        change(data)
        _save(data, path)
    except OSError as exc:
        warnings.warn(f"could not record progress in {path}: {exc}", stacklevel=3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_quiz(chapter: str, question_id: str, correct: bool) -> None:
    """Remember the latest answer to a quiz question (right or wrong) and how many tries."""
    def change(data: dict) -> None:
        entry = data["quizzes"].setdefault(chapter, {}).setdefault(question_id, {"tries": 0})
        entry.update(correct=bool(correct), tries=int(entry.get("tries", 0)) + 1, when=_now())
        if correct:
            entry["ever_correct"] = True

    _update(change)


def record_exercise(name: str, status: str) -> None:
    """Remember an exercise's latest verdict, ``"correct"`` or ``"wrong"`` (``"not yet"`` — an
    unfinished function — is not recorded)."""
    if status not in ("correct", "wrong"):
        return

    def change(data: dict) -> None:
        entry = data["exercises"].setdefault(name, {"tries": 0})
        entry.update(status=status, tries=int(entry.get("tries", 0)) + 1, when=_now())
        if status == "correct":
            entry["passed"] = True

    _update(change)


def reset_progress() -> Path:
    """Forget all recorded progress (delete the file); returns the file's path."""
    path = progress_file()
    path.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- the report
def _shown(path: Path) -> str:
    """The path as a learner would type it: ``~/…`` inside the home folder."""
    try:
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
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


def progress() -> ProgressReport:
    """Per chapter: the quiz questions whose latest answer was right, the exercises passed,
    and what to revisit (questions last answered wrong, exercises tried but not passed)."""
    from .exercises import EXERCISE_CHAPTERS
    from .quiz import load_quiz_file, quiz_dir

    path = progress_file()
    data = load_progress(path)
    quizzes = {p.stem: load_quiz_file(p) for p in sorted(quiz_dir().glob("*.yaml"))}
    chapters = sorted(set(quizzes) | set(EXERCISE_CHAPTERS.values()))
    report = []
    for chapter in chapters:
        answers = data["quizzes"].get(chapter, {})
        questions = quizzes[chapter].questions if chapter in quizzes else []
        right = sum(bool(answers.get(q.id, {}).get("correct")) for q in questions)
        revisit = [f"quiz {q.id}" for q in questions
                   if q.id in answers and not answers[q.id].get("correct")]
        names = sorted(n for n, c in EXERCISE_CHAPTERS.items() if c == chapter)
        done = {n: data["exercises"].get(n, {}) for n in names}
        passed = sum(bool(d.get("passed")) for d in done.values())
        revisit += [f"exercise {n}" for n, d in done.items() if d and not d.get("passed")]
        report.append(ChapterProgress(chapter, len(questions), right, len(names), passed,
                                      revisit))
    return ProgressReport(report, path)
