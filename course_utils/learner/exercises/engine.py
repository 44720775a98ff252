"""The exercise checkers' engine: run the learner's function on generated cases and say what
is wrong.

Each exercise has a reference solution, a generator of test cases and a list of
*diagnoses*: checks that recognise a typical mistake and explain it in the words of the
notes ("weights do not sum to 1 along the key axis"). :func:`check_exercise` stops at the
first failing case and reports it with the inputs, the expected and the obtained output.

An unfinished function (one that still raises ``NotImplementedError`` or returns ``None``)
gets a friendly "not yet", never an exception, so a notebook with an open exercise runs
top to bottom. Whatever the function does (raise anything, return anything, never return),
the checker answers: each case has a time limit (:data:`DEFAULT_TIMEOUT` seconds, or
``$COURSE_EXERCISE_TIMEOUT``, or ``check_exercise(..., timeout=...)``).

The exercises themselves live one module per chapter (``chapter_01`` … ``chapter_11``); each
hands its exercises to :func:`register` with the chapter's name, from which
:data:`EXERCISE_CHAPTERS` follows. The diagnoses several chapters share are here.
"""

from __future__ import annotations

import contextvars
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..progress_store import record_exercise

__all__ = ["ExerciseResult", "Exercise", "EXERCISES", "EXERCISE_CHAPTERS", "check_exercise",
           "DEFAULT_TIMEOUT", "TIMEOUT_ENV"]

DEFAULT_TIMEOUT = 30.0  # seconds one case of the learner's function may take
TIMEOUT_ENV = "COURSE_EXERCISE_TIMEOUT"  # overrides it (a number of seconds)

Diagnosis = Callable[[tuple, Tensor, Tensor], str | None]


@dataclass(frozen=True)
class ExerciseResult:
    """The verdict: ``status`` is ``"correct"``, ``"wrong"`` or ``"not yet"``."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        mark = {"correct": "✓", "wrong": "✗", "not yet": "…"}[self.status]
        return f"{mark} {self.name}: {self.message}"

    __str__ = __repr__


@dataclass(frozen=True)
class Exercise:
    """A function to write: its reference, its test cases and the mistakes it recognises."""

    name: str
    signature: str
    reference: Callable[..., Tensor]
    cases: Callable[[], Iterator[tuple]]
    diagnoses: list[Diagnosis] = field(default_factory=list)
    # Tried (before the general message) when the output has the right shape but NaN or inf:
    # each names one mistake, only where that mistake gives NaN or inf exactly there.
    nan_hints: list[Diagnosis] = field(default_factory=list)
    # Tried (before the general message) when the output has the wrong number of axes: each
    # names the mistake that gives exactly that shape.
    shape_hints: list[Diagnosis] = field(default_factory=list)
    # For an error raised inside the learner's function: (pattern in the message, hint).
    error_hints: list[tuple[str, str]] = field(default_factory=list)
    atol: float = 1e-5
    batched_case: bool = False  # the last case is a batch (..., n_q, d): hint at .transpose
    keeps_inputs: bool = False  # the function must not modify its input tensors


# --------------------------------------------------------------------------- the registry
EXERCISES: dict[str, Exercise] = {}
# The chapter whose notebook asks for each exercise (for the learner's progress report).
EXERCISE_CHAPTERS: dict[str, str] = {}


def register(chapter: str, *exercises: Exercise) -> None:
    """Add ``exercises`` to :data:`EXERCISES`, each asked for by the notebook ``chapter``
    (e.g. ``"01_attention_and_memory"``); a name may be registered once."""
    for exercise in exercises:
        if exercise.name in EXERCISES:
            raise ValueError(f"exercise {exercise.name!r} is registered twice")
        EXERCISES[exercise.name] = exercise
        EXERCISE_CHAPTERS[exercise.name] = chapter


# --------------------------------------------------------------------------- shared diagnoses
def generator(seed: int) -> torch.Generator:
    """A generator seeded with ``seed``: each exercise's cases are the same every run."""
    return torch.Generator().manual_seed(seed)


def close(a: Tensor, b: Tensor) -> bool:
    """Same shape and the same values up to 1e-4: does an output match a mistake's?"""
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def wrong_shape(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    """The diagnosis every exercise starts with: the output's shape, and why it may be off."""
    if got.shape == expected.shape:
        return None
    hint = ""
    first = args[0] if args and isinstance(args[0], Tensor) else None
    if first is not None and first.dim() > 2 and got.dim() == first.dim():
        hint = f". Hint: {_BATCH_HINT}"
    elif got.dim() == 2 and tuple(got.shape) == tuple(expected.shape)[::-1]:
        hint = " (it looks transposed: one row per query, one column per key or feature)"
    elif expected.shape[-1:] == (1,) and tuple(got.shape) == tuple(expected.shape[:-1]):
        hint = (". Hint: the last axis (of size 1) is missing: reduce with keepdim=True, "
                "e.g. .sum(dim=-1, keepdim=True)")
    elif got.numel() == expected.numel() and got.dim() < expected.dim() and 1 in expected.shape:
        hint = (". Hint: .squeeze() without an axis also drops every other axis of size 1 (a "
                "batch of one, a single query): name the axis, e.g. .squeeze(1)")
    return (f"the output has shape {tuple(got.shape)} but should have shape "
            f"{tuple(expected.shape)}{hint}")


def _not_finite(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    """The general message for NaN or inf, when no exercise hint explains them."""
    bad = torch.isnan(got)
    what, causes = "NaN", ("look for a division by zero (0/0), a log or sqrt of a negative "
                           "number, or a softmax over a row that is all −∞")
    if not bad.any():
        bad = ~torch.isfinite(got)
        what, causes = "inf", "look for a division by zero or exp() of a large number"
    index = tuple(bad.nonzero()[0].tolist())
    return (f"your output has {what} in {int(bad.sum())} of {got.numel()} entries (first at "
            f"index {index}); {causes}")


def non_finite_within(got: Tensor, *naive: Tensor) -> bool:
    """Whether ``got`` has NaN or inf, and only where one of the ``naive`` computations (a
    mistake) has them too: that mistake, not some other one, explains them."""
    bad = ~torch.isfinite(got)
    return bool(bad.any()) and any(not (bad & torch.isfinite(n)).any() for n in naive)


def nan_as_inverted_mask(mask: Tensor, got: Tensor) -> bool:
    """NaN on every row without padding and nowhere else: an inverted mask leaves those rows
    nothing to attend (a softmax over only −inf), while the rows with padding stay finite."""
    full, nan = mask.all(dim=-1), torch.isnan(got)
    return bool(full.any() and (~full).any() and nan[full].all() and not nan[~full].any())


def weights_non_negative(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    """Attention weights are never negative."""
    if (got < -1e-6).any():
        return "some weights are negative; attention weights are exp(score) / Σ exp ≥ 0"
    return None


def weights_sum_to_one(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    """Attention weights sum to 1 over the keys (and not over the queries)."""
    key_sums = got.sum(dim=-1)
    if torch.allclose(key_sums, torch.ones_like(key_sums), atol=1e-4):
        return None
    query_sums = got.sum(dim=-2)
    if got.shape[-2] > 1 and torch.allclose(query_sums, torch.ones_like(query_sums), atol=1e-4):
        return ("the weights sum to 1 down each column (over the queries) instead of along each "
                "row: normalise over the key axis, dim=-1")
    return (f"the weights do not sum to 1 along the key axis (the last one): row sums are "
            f"{_rounded(key_sums)}")


def _rounded(t: Tensor) -> list:
    """Nested lists of the values rounded to 3 decimals (for messages)."""
    return [_rounded(row) for row in t] if t.dim() else round(float(t), 3)


_BATCH_HINT = ("this case is a batch, (batch, n_q, ...): use .transpose(-2, -1), which swaps "
               "the last two axes, rather than .T, which reverses all of them")


def _error_hint(exercise: Exercise, text: str, args: tuple) -> str:
    if exercise.batched_case and args[0].dim() > 2:
        return f" Hint: {_BATCH_HINT}."
    for pattern, hint in exercise.error_hints:
        if pattern in text:
            return f" Hint: {hint}."
    return ""


# --------------------------------------------------------------------------- checking
def _describe(args: tuple) -> str:
    return ", ".join(f"shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a)
                     for a in args)


def check_exercise(name: str, function: Callable[..., object], *,
                   timeout: float | None = None) -> ExerciseResult:
    """Check the learner's ``function`` for exercise ``name`` (see :data:`EXERCISES`).

    Returns an :class:`ExerciseResult`; it never raises for a wrong or unfinished function.
    A right or wrong verdict is remembered for :func:`course_utils.progress` (an unfinished
    function is not an attempt).

    Each case may take ``timeout`` seconds (default ``$COURSE_EXERCISE_TIMEOUT``, else
    :data:`DEFAULT_TIMEOUT`). The function runs in this process, in a thread of its own with
    the caller's grad and inference modes (torch's random generator and global flags are
    shared as usual);
    a thread cannot be stopped, so a function that never returns is reported but goes on
    running in the background until the kernel is restarted.
    """
    result = _check(name, function, _time_limit(timeout))
    record_exercise(result.name, result.status)
    return result


def _time_limit(timeout: float | None) -> float:
    if timeout is not None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        return timeout
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        timeout = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        timeout = math.nan
    if not timeout > 0:  # a setting gone wrong must not stop the notebook
        warnings.warn(f"{TIMEOUT_ENV}={text!r} is not a positive number of seconds; using "
                      f"{DEFAULT_TIMEOUT:g}", stacklevel=3)
        timeout = DEFAULT_TIMEOUT
    return timeout


def _call(function: Callable[..., object], args: tuple, timeout: float
          ) -> tuple[object, BaseException | None] | None:
    """``(output, None)`` or ``(None, exception)`` of ``function(*args)``, or ``None`` if it did
    not return within ``timeout`` seconds (it runs on in its daemon thread)."""
    outcome = []
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def run() -> None:
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):  # per thread
                outcome.append((function(*args), None))
        except BaseException as exc:  # the learner's code may fail in any way
            outcome.append((None, exc))

    # copy_context: the notebook's context variables (e.g. where print() output goes)
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), daemon=True,
                              name="check_exercise")
    thread.start()
    thread.join(timeout if math.isfinite(timeout) else None)
    return outcome[0] if outcome else None


def _exception_text(exc: BaseException) -> str:
    """``Type: message``, or ``Type`` alone when the message is empty (or cannot be had)."""
    try:
        text = str(exc).rstrip(".")
    except Exception:  # an exception whose __str__ fails
        text = ""
    return f"{type(exc).__name__}: {text}" if text.strip() else type(exc).__name__


def _comparable(got: Tensor, expected: Tensor) -> Tensor | str:
    """The output ready to compare with ``expected`` (detached, dense, on the CPU, numbers in
    the expected dtype; a mask as it is), or what makes it unfit, in words."""
    try:
        got = got.detach().cpu()
    except Exception:  # a meta tensor has no values
        return f"your function returned a tensor on device {got.device}; return a real tensor"
    if got.layout != torch.strided:
        return (f"your function returned a {got.layout} tensor; return an ordinary (dense) "
                "one, e.g. with .to_dense()")
    if expected.dtype == torch.bool:
        return got  # a mask's dtype is part of the answer: the exercise's diagnoses name it
    if got.is_complex():
        return (f"the output has dtype {got.dtype} (complex numbers); return a real tensor, "
                f"dtype {expected.dtype}")
    if expected.is_floating_point() and not got.is_floating_point():
        return (f"the output has dtype {got.dtype}; return a floating-point tensor, dtype "
                f"{expected.dtype}")
    if not expected.is_floating_point() and (got.is_floating_point() or got.dtype == torch.bool):
        return f"the output has dtype {got.dtype}; ids are integers: return dtype {expected.dtype}"
    return got.to(expected.dtype)


def _check(name: str, function: Callable[..., object], timeout: float) -> ExerciseResult:
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; exercises are {sorted(EXERCISES)}")
    if not callable(function):
        raise TypeError(f"pass the function itself, e.g. check_exercise({name!r}, {name}); got "
                        f"{type(function).__name__}")
    exercise = EXERCISES[name]
    cases = list(exercise.cases())
    for number, args in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)} (inputs: {_describe(args)})"
        try:
            result = _check_case(exercise, function, args, where, timeout)
        except Exception as exc:  # an output odd enough to break a check: still an answer
            result = ExerciseResult(name, "wrong", f"{where}: your output could not be checked "
                                    f"({_exception_text(exc)}); return a plain torch.Tensor.")
        if result is not None:
            return result
    return ExerciseResult(name, "correct", f"correct on all {len(cases)} cases.")


def _check_case(exercise: Exercise, function: Callable[..., object], args: tuple, where: str,
                timeout: float) -> ExerciseResult | None:
    """The verdict on one case, or ``None`` if the function got it right."""
    name = exercise.name
    given = tuple(a.clone() if isinstance(a, Tensor) else a for a in args)
    outcome = _call(function, given, timeout)
    if outcome is None:
        return ExerciseResult(name, "wrong", f"{where}: your function did not return within "
                              f"{timeout:g} s; look for a loop that never ends (it goes on "
                              "running in the background until the kernel is restarted).")
    got, exc = outcome
    if isinstance(exc, NotImplementedError):
        return ExerciseResult(name, "not yet", "not yet: the function still raises "
                              "NotImplementedError; write its body and run the cell again.")
    if exc is not None:
        text = _exception_text(exc)
        return ExerciseResult(name, "wrong", f"{where}: your function raised {text}."
                              f"{_error_hint(exercise, text, args)}")
    if got is None:
        return ExerciseResult(name, "not yet", "not yet: the function returns None; "
                              "make it return a tensor.")
    if isinstance(got, tuple):
        return ExerciseResult(name, "wrong", f"{where}: your function returned a tuple of "
                              f"{len(got)}; return one tensor: {exercise.signature}")
    if not isinstance(got, Tensor):
        return ExerciseResult(name, "wrong", f"{where}: expected a torch.Tensor, got "
                                             f"{type(got).__name__}")
    changed = [i for i, (a, b) in enumerate(zip(args, given, strict=True))
               if isinstance(a, Tensor) and not torch.equal(a, b)]
    if exercise.keeps_inputs and changed:
        return ExerciseResult(name, "wrong", f"{where}: your function modified its input "
                              f"(argument {changed[0] + 1}) in place; build a new tensor "
                              "instead (e.g. x * y or torch.cat(...), not x *= y or "
                              "x[...] = ...)")
    expected = exercise.reference(*args)
    got = _comparable(got, expected)
    if isinstance(got, str):
        return ExerciseResult(name, "wrong", f"{where}: {got}.")
    if got.dim() != expected.dim():  # the diagnoses index into the output: its shape first
        diagnoses = [*exercise.shape_hints, wrong_shape]
    elif got.shape == expected.shape and not torch.isfinite(got).all():
        diagnoses = [*exercise.nan_hints, _not_finite]
    else:
        diagnoses = exercise.diagnoses
    for diagnose in diagnoses:
        problem = diagnose(args, got, expected)
        if problem:
            return ExerciseResult(name, "wrong", f"{where}: {problem}.")
    if expected.dtype == torch.bool:
        if not torch.equal(got, expected):
            return ExerciseResult(name, "wrong", f"{where}: the mask differs.\n"
                                  f"  expected {expected.int().tolist()}\n"
                                  f"  got      {got.int().tolist()}")
    elif not torch.allclose(got, expected, atol=exercise.atol, rtol=1e-4):
        error = (got - expected).abs()
        if expected.numel() <= 64:
            shown = f"\n  expected {_rounded(expected)}\n  got      {_rounded(got)}"
        else:  # too big to print: point at the worst entry
            index = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
            shown = (f" The worst is at index {index}: expected "
                     f"{expected[index].item():.3f}, got {got[index].item():.3f}.")
        return ExerciseResult(
            name, "wrong",
            f"{where}: the values are off by up to {error.max().item():.3g}.{shown}")
    return None
