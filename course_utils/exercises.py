"""Exercise checkers: run the learner's function on generated cases and say what is wrong.

Each exercise has a reference solution, a generator of test cases and a list of
*diagnoses*: checks that recognise a typical mistake and explain it in the words of the
notes ("weights do not sum to 1 along the key axis"). :func:`check_exercise` stops at the
first failing case and reports it with the inputs, the expected and the obtained output.

An unfinished function (one that still raises ``NotImplementedError`` or returns ``None``)
gets a friendly "not yet", never an exception, so a notebook with an open exercise runs
top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .attention import context_vector, dot_product_scores, masked_softmax

__all__ = ["ExerciseResult", "Exercise", "EXERCISES", "check_exercise"]

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
    atol: float = 1e-5


# --------------------------------------------------------------------------- case makers
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _score_cases() -> Iterator[tuple]:
    # n_q, n_k and d all differ, so a transpose in the wrong place shows up as a shape error.
    for seed, (n_q, n_k, d) in enumerate([(2, 3, 4), (1, 5, 2), (4, 1, 3), (3, 6, 5)]):
        g = _generator(seed)
        yield torch.randn(n_q, d, generator=g), torch.randn(n_k, d, generator=g)


def _weight_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k) in enumerate([(2, 3), (4, 5), (3, 1)]):
        yield (torch.randn(n_q, n_k, generator=_generator(10 + seed)) * 2,)
    # Large scores overflow exp() unless the row maximum is subtracted first.
    yield (torch.tensor([[1000.0, 999.0, 990.0], [-5.0, 800.0, 0.0]]),)


def _context_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k, d_v) in enumerate([(2, 3, 4), (1, 4, 2), (3, 5, 1), (2, 1, 3)]):
        g = _generator(20 + seed)
        weights = torch.softmax(torch.randn(n_q, n_k, generator=g), dim=-1)
        yield weights, torch.randn(n_k, d_v, generator=g)


# --------------------------------------------------------------------------- diagnoses
def _shape(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if got.shape == expected.shape:
        return None
    hint = ""
    if got.dim() == 2 and tuple(got.shape) == tuple(expected.shape)[::-1]:
        hint = " (it looks transposed: one row per query, one column per key or feature)"
    return (f"the output has shape {tuple(got.shape)} but should have shape "
            f"{tuple(expected.shape)}{hint}")


def _finite(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if not torch.isfinite(got).all():
        return ("the output contains NaN or inf. exp() of a large score overflows: subtract "
                "each row's maximum score before exp() (softmax is unchanged by that shift)")
    return None


def _weights_non_negative(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if (got < -1e-6).any():
        return "some weights are negative; attention weights are exp(score) / Σ exp ≥ 0"
    return None


def _weights_sum_to_one(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    key_sums = got.sum(dim=-1)
    if torch.allclose(key_sums, torch.ones_like(key_sums), atol=1e-4):
        return None
    query_sums = got.sum(dim=0)
    if got.shape[0] > 1 and torch.allclose(query_sums, torch.ones_like(query_sums), atol=1e-4):
        return ("the weights sum to 1 down each column (over the queries) instead of along each "
                "row: normalise over the key axis, dim=-1")
    return (f"the weights do not sum to 1 along the key axis (the last one): row sums are "
            f"{[round(v, 3) for v in key_sums.tolist()]}")


def _context_unweighted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    weights, values = args
    plain_sum = values.sum(dim=0).expand_as(expected)
    if weights.shape[-1] > 1 and torch.allclose(got, plain_sum, atol=1e-5):
        return ("the output is the plain sum of the values: weight each value vᵢ by its "
                "attention weight αᵢ, c = Σᵢ αᵢ vᵢ")
    return None


def _scores_scaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    query, _ = args
    d = query.shape[-1]
    if d > 1 and torch.allclose(got * d**0.5, expected, atol=1e-4):
        return ("the scores are divided by √d; this exercise asks for the plain dot product "
                "q·k (the scaled version comes in chapter 04)")
    return None


EXERCISES: dict[str, Exercise] = {
    "scores": Exercise(
        name="scores",
        signature="scores(query (n_q, d), keys (n_k, d)) -> (n_q, n_k)",
        reference=lambda q, k: dot_product_scores(q, k, scaled=False),
        cases=_score_cases,
        diagnoses=[_shape, _scores_scaled],
    ),
    "attention_weights": Exercise(
        name="attention_weights",
        signature="attention_weights(scores (n_q, n_k)) -> weights (n_q, n_k)",
        reference=lambda s: masked_softmax(s),
        cases=_weight_cases,
        diagnoses=[_shape, _finite, _weights_non_negative, _weights_sum_to_one],
    ),
    "context_vector": Exercise(
        name="context_vector",
        signature="context_vector(weights (n_q, n_k), values (n_k, d_v)) -> (n_q, d_v)",
        reference=context_vector,
        cases=_context_cases,
        diagnoses=[_shape, _context_unweighted],
    ),
}


# --------------------------------------------------------------------------- checking
def _describe(args: tuple) -> str:
    return ", ".join(f"shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a)
                     for a in args)


def check_exercise(name: str, function: Callable[..., object]) -> ExerciseResult:
    """Check the learner's ``function`` for exercise ``name`` (see :data:`EXERCISES`).

    Returns an :class:`ExerciseResult`; it never raises for a wrong or unfinished function.
    """
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
            got = function(*(a.clone() for a in args))
        except NotImplementedError:
            return ExerciseResult(name, "not yet", "not yet: the function still raises "
                                  "NotImplementedError; write its body and run the cell again.")
        except Exception as exc:  # the learner's code may fail in any way
            return ExerciseResult(name, "wrong", f"{where}: your function raised "
                                  f"{type(exc).__name__}: {exc}")
        if got is None:
            return ExerciseResult(name, "not yet", "not yet: the function returns None; "
                                  "make it return a tensor.")
        if not isinstance(got, Tensor):
            return ExerciseResult(name, "wrong", f"{where}: expected a torch.Tensor, got "
                                  f"{type(got).__name__}")
        expected = exercise.reference(*args)
        got = got.detach().to(expected.dtype)
        for diagnose in exercise.diagnoses:
            problem = diagnose(args, got, expected)
            if problem:
                return ExerciseResult(name, "wrong", f"{where}: {problem}.")
        if not torch.allclose(got, expected, atol=exercise.atol, rtol=1e-4):
            error = (got - expected).abs().max().item()
            return ExerciseResult(
                name, "wrong",
                f"{where}: the values are off by up to {error:.3g}.\n"
                f"  expected {expected.numpy().round(3).tolist()}\n"
                f"  got      {got.numpy().round(3).tolist()}")
    return ExerciseResult(name, "correct", f"correct on all {len(cases)} cases.")
