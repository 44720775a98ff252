"""The learner's progress file: quiz answers and exercise results, remembered between
sessions (storage only; :mod:`course_utils.learner.progress` makes the report).

Every *Check* of a quiz question and every checked exercise (right or wrong; an unfinished
"not yet" is not an attempt) is written to a small JSON file in the user's data directory
(``platformdirs.user_data_dir("attention-course")/progress.json``; the environment variable
``COURSE_PROGRESS_FILE`` names another file), never into the course folder. Each update is
locked against concurrent kernels (a ``filelock`` on the sibling ``progress.json.lock``, which
is removed again) and written atomically (a temporary file, then a rename; a symlinked file is
written through to its target). A missing file is an empty record; recording never stops a
notebook: a file that cannot be parsed is reported, kept aside as ``progress.json.corrupt`` and
replaced; damaged entries are reported and left out (the file as it was is kept aside the same
way); a file that cannot be reached (a folder in its place, no permission) is reported and
left alone.

:func:`record_quiz` and :func:`record_exercise` write, :func:`load_progress` reads,
:func:`reset_progress` forgets everything. This module knows nothing of quizzes or exercises
beyond their names.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

__all__ = ["progress_file", "record_quiz", "record_exercise", "load_progress", "reset_progress"]

ENV = "COURSE_PROGRESS_FILE"
VERSION = 1
LOCK_TIMEOUT_S = 10  # another kernel holds the lock for milliseconds; longer is reported


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
            and isinstance(data.get("quizzes"), dict) and isinstance(data.get("exercises"), dict))


# The fields of a quiz answer or an exercise result, and what each must hold (others are kept).
_FIELD_OK = {
    "tries": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "correct": lambda v: isinstance(v, bool),
    "ever_correct": lambda v: isinstance(v, bool),
    "passed": lambda v: isinstance(v, bool),
    "status": lambda v: v in ("correct", "wrong"),
    "when": lambda v: isinstance(v, str),
}


def _sound_entry(entry: object) -> bool:
    """Whether one recorded answer or result is a mapping whose known fields hold what they
    should (``tries`` of ``"abc"``, ``null`` or ``NaN`` does not)."""
    return isinstance(entry, dict) and all(
        _FIELD_OK[key](value) for key, value in entry.items() if key in _FIELD_OK)


def _drop_damaged_entries(data: dict) -> list[str]:
    """Remove from ``data`` the answers and results that are not sound; returns their names."""
    exercises = data["exercises"]
    dropped = [f"exercise {name!r}" for name, e in exercises.items() if not _sound_entry(e)]
    data["exercises"] = {name: e for name, e in exercises.items() if _sound_entry(e)}
    for chapter, answers in list(data["quizzes"].items()):
        if isinstance(answers, dict):
            dropped += [f"quiz {chapter}/{q}" for q, e in answers.items() if not _sound_entry(e)]
            data["quizzes"][chapter] = {q: e for q, e in answers.items() if _sound_entry(e)}
        else:
            dropped.append(f"quiz chapter {chapter!r}")
            del data["quizzes"][chapter]
    return dropped


def _move_aside(path: Path) -> str:
    """Move a damaged progress file to ``<name>.corrupt``; says where it went (or why not)."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        return f"it was kept as {aside}"
    except OSError as exc:
        return f"it could not be moved aside ({exc})"


def real_path(path: Path) -> Path:
    """The file that ``path`` stands for, symlinks followed: a link is written through, never
    replaced by a regular file."""
    return Path(os.path.realpath(path))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` (the sibling ``<name>.lock``). The lock file is
    removed before the lock is let go (filelock makes a waiter that got the removed file try
    again), so the folder keeps only the progress file."""
    lock_path = path.with_name(path.name + ".lock")
    with FileLock(lock_path, timeout=LOCK_TIMEOUT_S, poll_interval=0.005):
        try:
            yield
        finally:
            with suppress(OSError):
                lock_path.unlink()


def _load(path: Path) -> dict:
    """Read the progress file (the caller holds its lock). An unparsable file is moved aside,
    damaged entries are left out (the file as it was moved aside, the rest saved again); each
    is one warning. Raises ``OSError`` when the file cannot be read."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(content.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep
        data = None
    if not _valid(data):
        warnings.warn(f"the progress file {path} could not be read; starting a new one "
                      f"({_move_aside(path)})", stacklevel=4)
        return _empty()
    dropped = _drop_damaged_entries(data)
    if dropped:
        kept = _move_aside(path)
        warnings.warn(f"the progress file {path} had damaged entries, left out: "
                      f"{', '.join(dropped)} ({kept})", stacklevel=4)
        with suppress(OSError):
            _save(data, path)
    return data


def load_progress(path: Path | None = None) -> dict:
    """The recorded progress ``{"version", "quizzes": {chapter: {question: {...}}},
    "exercises": {name: {...}}}``; empty when there is no file. A file that cannot be read as
    such is reported (a warning naming it), moved to ``<name>.corrupt`` and replaced by an
    empty record; damaged entries are reported and left out; a file that cannot be reached is
    reported and read as empty."""
    path = real_path(progress_file() if path is None else path)
    try:
        with _locked(path):
            return _load(path)
    except FileNotFoundError:  # no folder yet: nothing recorded
        return _empty()
    except OSError as exc:
        warnings.warn(f"the progress file {path} could not be read ({exc}); no progress is "
                      "shown", stacklevel=2)
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
    """Load, apply ``change(data)``, save, under the file's lock; a failure is a warning,
    never an exception (and a file that could not be read is not overwritten)."""
    path = real_path(progress_file())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            data = _load(path)
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
    """Forget all recorded progress (delete the file; a symlink's target); returns the file's
    path. A file that cannot be deleted is a warning that says what to do."""
    path = progress_file()
    target = real_path(path)
    try:
        with _locked(target):
            target.unlink(missing_ok=True)
    except FileNotFoundError:  # no folder: nothing to forget
        pass
    except OSError as exc:
        warnings.warn(f"could not forget the progress kept in {target} ({exc.strerror or exc}): "
                      f"delete that file yourself, or set {ENV} to a file in a folder you can "
                      "write to", stacklevel=2)
    return path
