"""Exercise checkers: run the learner's function on generated cases and say what is wrong.

Each exercise has a reference solution, a generator of test cases and a list of
*diagnoses*: checks that recognise a typical mistake and explain it in the words of the
notes ("weights do not sum to 1 along the key axis"). :func:`check_exercise` stops at the
first failing case and reports it with the inputs, the expected and the obtained output.

An unfinished function (one that still raises ``NotImplementedError`` or returns ``None``)
gets a friendly "not yet", never an exception, so a notebook with an open exercise runs
top to bottom. Whatever the function does (raise anything, return anything, never return),
the checker answers: each case has a time limit (:data:`DEFAULT_TIMEOUT` seconds, or
``$COURSE_EXERCISE_TIMEOUT``, or ``check_exercise(..., timeout=...)``).
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

from .attention import (
    context_vector,
    dot_product_scores,
    masked_softmax,
    scaled_dot_product_attention,
)
from .captioning import GRID
from .efficient import OnlineSoftmax
from .ntm import sharpen, write
from .positional import frequencies, sinusoidal_encoding
from .reading import memory_hop
from .records import record_exercise

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
    atol: float = 1e-5
    batched_case: bool = False  # the last case is a batch (..., n_q, d): hint at .transpose
    keeps_inputs: bool = False  # the function must not modify its input tensors


# --------------------------------------------------------------------------- case makers
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _score_cases() -> Iterator[tuple]:
    # n_q, n_k and d all differ, so a transpose in the wrong place shows up as a shape error.
    for seed, (n_q, n_k, d) in enumerate([(2, 3, 4), (1, 5, 2), (4, 1, 3), (3, 6, 5)]):
        g = _generator(seed)
        yield torch.randn(n_q, d, generator=g), torch.randn(n_k, d, generator=g)
    g = _generator(9)  # last: a batch, (batch, n_q, d) and (batch, n_k, d)
    yield torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g)


def _weight_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k) in enumerate([(2, 3), (4, 5), (3, 1)]):
        yield (torch.randn(n_q, n_k, generator=_generator(10 + seed)) * 2,)
    # Large scores overflow exp() unless each row's maximum is subtracted first (and one
    # maximum for the whole tensor makes the second row underflow to 0/0).
    yield (torch.tensor([[1000.0, 999.0, 990.0], [-5.0, 800.0, 0.0]]),)
    yield (torch.randn(2, 3, 4, generator=_generator(14)),)  # a batch (batch, n_q, n_k)


def _context_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k, d_v) in enumerate([(2, 3, 4), (1, 4, 2), (3, 5, 1), (2, 1, 3)]):
        g = _generator(20 + seed)
        weights = torch.softmax(torch.randn(n_q, n_k, generator=g), dim=-1)
        yield weights, torch.randn(n_k, d_v, generator=g)
    g = _generator(29)  # a batch
    yield torch.softmax(torch.randn(2, 3, 4, generator=g), dim=-1), torch.randn(2, 4, 2,
                                                                               generator=g)


# --------------------------------------------------------------------------- diagnoses
def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def _shape(args: tuple, got: Tensor, expected: Tensor) -> str | None:
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


def _non_finite_within(got: Tensor, *naive: Tensor) -> bool:
    """Whether ``got`` has NaN or inf, and only where one of the ``naive`` computations (a
    mistake) has them too: that mistake, not some other one, explains them."""
    bad = ~torch.isfinite(got)
    return bool(bad.any()) and any(not (bad & torch.isfinite(n)).any() for n in naive)


def _softmax_overflow(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    (scores,) = args
    e, shifted = scores.exp(), (scores - scores.max()).exp()  # no maximum; one for all rows
    if _non_finite_within(got, e / e.sum(dim=-1, keepdim=True),
                          shifted / shifted.sum(dim=-1, keepdim=True)):
        return ("the output contains NaN or inf. exp() of a large score overflows to inf, and "
                "subtracting one maximum for the whole tensor can make a whole row underflow "
                "to 0/0: subtract each row's own maximum, "
                "scores.max(dim=-1, keepdim=True).values, before exp() (softmax is unchanged "
                "by that shift)")
    return None


def _nan_as_inverted_mask(mask: Tensor, got: Tensor) -> bool:
    """NaN on every row without padding and nowhere else: an inverted mask leaves those rows
    nothing to attend (a softmax over only −inf), while the rows with padding stay finite."""
    full, nan = mask.all(dim=-1), torch.isnan(got)
    return bool(full.any() and (~full).any() and nan[full].all() and not nan[~full].any())


def _weights_non_negative(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if (got < -1e-6).any():
        return "some weights are negative; attention weights are exp(score) / Σ exp ≥ 0"
    return None


def _weights_sum_to_one(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    key_sums = got.sum(dim=-1)
    if torch.allclose(key_sums, torch.ones_like(key_sums), atol=1e-4):
        return None
    query_sums = got.sum(dim=-2)
    if got.shape[-2] > 1 and torch.allclose(query_sums, torch.ones_like(query_sums), atol=1e-4):
        return ("the weights sum to 1 down each column (over the queries) instead of along each "
                "row: normalise over the key axis, dim=-1")
    return (f"the weights do not sum to 1 along the key axis (the last one): row sums are "
            f"{_rounded(key_sums)}")


def _weights_hard(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    one_hot = ((got == 0) | (got == 1)).all() and not ((expected == 0) | (expected == 1)).all()
    if one_hot:
        return ("the weights are one-hot: that is hard attention (an argmax). The soft "
                "weights are exp(sᵢ) / Σⱼ exp(sⱼ): every key gets a share")
    return None


def _weights_reversed(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if _close(got, torch.softmax(-args[0], dim=-1)) and not _close(got, expected):
        return ("the lowest score gets the highest weight: that is softmax(-scores). A better "
                "match (a higher score) must get more attention")
    return None


def _scores_scaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    d = args[0].shape[-1]
    if d > 1 and _close(got * d**0.5, expected):
        return ("the scores are divided by √d; this exercise asks for the plain dot product "
                "q·k (the scaled version comes in chapter 04)")
    if d > 1 and _close(got * d, expected):
        return ("the scores are divided by d; the plain dot product q·k has no scaling (and "
                "the Transformer divides by √d, not d)")
    return None


def _scores_softmaxed(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if args[1].shape[-2] > 1 and _close(got, torch.softmax(expected, dim=-1)):
        return ("these are already attention weights (a softmax of the scores): this step is "
                "only the scores q·k; the softmax is exercise 2")
    return None


def _context_unweighted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    weights, values = args
    if weights.shape[-1] == 1:
        return None
    if _close(got, values.sum(dim=-2, keepdim=True).expand_as(expected)):
        return ("the output is the plain sum of the values: weight each value vᵢ by its "
                "attention weight αᵢ, c = Σᵢ αᵢ vᵢ")
    if _close(got, values.mean(dim=-2, keepdim=True).expand_as(expected)):
        return ("the output is the plain mean of the values, what uniform weights would give: "
                "use the attention weights, c = Σᵢ αᵢ vᵢ")
    if _close(got * weights.shape[-1], expected):
        return ("the output is divided by n_k: the weights already sum to 1, so c = Σᵢ αᵢ vᵢ "
                "needs no further averaging")
    return None


# Hints for errors raised inside the learner's function: (pattern in the message, hint).
_MATMUL_SCORES = ("query is (n_q, d) and keys (n_k, d): one dot product per (query, key) pair is "
                  "query @ keys.transpose(-2, -1), shape (n_q, n_k)")
_ERROR_HINTS = {
    "scores": [("cannot be multiplied", _MATMUL_SCORES), ("must match the size", _MATMUL_SCORES)],
    "attention_weights": [
        ("return_types.max", "scores.max(dim=-1) gives (values, indices): use "
                             "scores.max(dim=-1, keepdim=True).values"),
        ("must match the size", "keep the summed axis so that the division broadcasts row by "
                                "row: e.sum(dim=-1, keepdim=True)"),
    ],
    "batch_context": [(pattern, "weights (batch, n) need a query axis for a batched matrix "
                                "product: (weights.unsqueeze(1) @ states).squeeze(1), or "
                                "(weights[..., None] * states).sum(dim=1)")
                      for pattern in ("cannot be multiplied", "Expected size", "must match")],
    "context_vector": [
        ("cannot be multiplied", "weights (n_q, n_k) @ values (n_k, d_v) gives (n_q, d_v): the "
                                 "key axis meets in the middle, no transpose is needed"),
    ],
    "attend_to_regions": [
        ("must match the size", "W_q z is one vector per image, (batch, a), and W_k rᵢ one per "
                                "region, (batch, R, a): give the first a region axis, "
                                "(z @ w_q).unsqueeze(1), so that it is added to every region"),
        ("cannot be multiplied", "z (batch, hidden) goes with w_q (hidden, a) and the regions "
                                 "(batch, R, d) with w_k (d, a): z @ w_q and regions @ w_k"),
    ],
    "multi_head_attention": [
        ("invalid for input of size", "d_model splits into h heads of d_h = d_model // h "
                                      "columns: reshape to (batch, n, h, d_h)"),
        *((pattern, "d_model / h is a float: the head size is d_model // h")
          for pattern in ("got float", "type float")),
    ],
    "sharpen": [("must match the size", "keep the summed axis so that the division broadcasts "
                                        "row by row: .sum(dim=-1, keepdim=True); gamma is "
                                        "(batch, 1) already")],
    "erase_then_add": [(pattern, "give w an axis for the width and e, a an axis for the rows: "
                                 "w.unsqueeze(-1) is (batch, N, 1), erase.unsqueeze(1) is "
                                 "(batch, 1, M); their product is (batch, N, M)")
                       for pattern in ("must match the size", "cannot be multiplied")],
}


def _padded_cases() -> Iterator[tuple]:
    # A decoder state per sentence, the encoder states, and a padding mask (True = a word).
    for seed, (batch, n, d, lengths) in enumerate([(2, 4, 3, [4, 2]), (3, 5, 2, [1, 5, 3]),
                                                   (1, 3, 4, [3])]):
        g = _generator(40 + seed)
        mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        states = torch.randn(batch, n, d, generator=g) * mask[..., None]
        yield torch.randn(batch, d, generator=g), states, mask


def _padded_reference(query: Tensor, states: Tensor, mask: Tensor) -> Tensor:
    scores = dot_product_scores(query.unsqueeze(1), states).squeeze(1)  # (batch, n)
    return masked_softmax(scores, mask)


def _padding_ignored(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    _, _, mask = args
    leak = got.masked_fill(mask, 0).abs().max().item()
    if leak > 1e-6:
        return (f"padding positions get weight (up to {leak:.3f}); give them a score of -inf "
                "before the softmax (scores.masked_fill(~mask, float('-inf'))) so that "
                "exp(-inf) = 0")
    return None


def _padded_scores(query: Tensor, states: Tensor) -> Tensor:
    return (states @ query.unsqueeze(-1)).squeeze(-1)  # (batch, n): hⁱ · z, unscaled


def _padded_mask_inverted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    query, states, mask = args
    if _nan_as_inverted_mask(mask, got) or _close(
            got, masked_softmax(_padded_scores(query, states), ~mask)):
        return ("the mask is the wrong way round: True = a real word that may be attended, so "
                "fill the padding, scores.masked_fill(~mask, float('-inf'))")
    return None


def _padded_wrong_axis(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    sums = got.sum(dim=0)
    if got.shape[0] > 1 and torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        return ("the weights sum to 1 across the batch (dim 0): softmax over the words of each "
                "sentence, dim=-1")
    return None


def _padded_masked_after(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    query, states, mask = args
    unmasked = torch.softmax(_padded_scores(query, states) / query.shape[-1] ** 0.5, dim=-1)
    if (~mask).any() and _close(got, unmasked * mask):
        return ("zeroing the padding *after* the softmax leaves the real words summing to less "
                "than 1: mask the scores *before* the softmax")
    return None


def _padded_unscaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    query, states, mask = args
    d = query.shape[-1]
    if d == 1 or _close(got, expected):
        return None
    if _close(got, masked_softmax(_padded_scores(query, states), mask)):
        return "the scores are not divided by √d: use (h · z) / √d"
    if _close(got, masked_softmax(_padded_scores(query, states) / d, mask)):
        return "the scores are divided by d: divide by √d, (h · z) / √d"
    return None


def _batch_context_cases() -> Iterator[tuple]:
    for seed, (batch, n, d) in enumerate([(2, 4, 3), (3, 1, 2), (1, 5, 4)]):
        g = _generator(50 + seed)
        yield (torch.softmax(torch.randn(batch, n, generator=g), dim=-1),
               torch.randn(batch, n, d, generator=g))


def _batch_context_unweighted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    weights, states = args
    if weights.shape[-1] > 1 and _close(got, states.sum(dim=1)):
        return "the output is the plain sum of the states: weight each hⁱ by its αᵢ"
    if weights.shape[-1] > 1 and _close(got, states.mean(dim=1)):
        return "the output is the plain mean of the states, which ignores α: c = Σᵢ αᵢ hⁱ"
    return None


EXERCISES: dict[str, Exercise] = {
    "scores": Exercise(
        name="scores",
        signature="scores(query (..., n_q, d), keys (..., n_k, d)) -> (..., n_q, n_k)",
        reference=lambda q, k: dot_product_scores(q, k, scaled=False),
        cases=_score_cases,
        diagnoses=[_shape, _scores_scaled, _scores_softmaxed],
        batched_case=True,
    ),
    "attention_weights": Exercise(
        name="attention_weights",
        signature="attention_weights(scores (..., n_q, n_k)) -> weights (..., n_q, n_k)",
        reference=lambda s: masked_softmax(s),
        cases=_weight_cases,
        diagnoses=[_shape, _weights_non_negative, _weights_hard, _weights_sum_to_one,
                   _weights_reversed],
        nan_hints=[_softmax_overflow],
        batched_case=True,
    ),
    "context_vector": Exercise(
        name="context_vector",
        signature="context_vector(weights (..., n_q, n_k), values (..., n_k, d_v)) -> "
                  "(..., n_q, d_v)",
        reference=context_vector,
        cases=_context_cases,
        diagnoses=[_shape, _context_unweighted],
        batched_case=True,
    ),
    "padded_attention_weights": Exercise(
        name="padded_attention_weights",
        signature="padded_attention_weights(query (batch, d), states (batch, n, d), "
                  "mask (batch, n)) -> weights (batch, n)",
        reference=_padded_reference,
        cases=_padded_cases,
        diagnoses=[_shape, _padded_mask_inverted, _weights_non_negative,
                   _padded_masked_after, _padding_ignored, _padded_wrong_axis,
                   _weights_sum_to_one, _padded_unscaled],
        nan_hints=[_padded_mask_inverted],
    ),
    "batch_context": Exercise(
        name="batch_context",
        signature="batch_context(weights (batch, n), states (batch, n, d)) -> (batch, d)",
        reference=lambda w, h: context_vector(w.unsqueeze(1), h).squeeze(1),
        cases=_batch_context_cases,
        diagnoses=[_shape, _batch_context_unweighted],
    ),
}


# --------------------------------------------------------------------------- chapter 03
def _regions_cases() -> Iterator[tuple]:
    # (z, regions, w_q, w_k, v): a decoder state per image, its regions (the captioner's 16 =
    # 4 × 4, or another count) and the additive score's weights. batch, R, hidden, d and a all
    # differ, so summing the wrong tensor or softmaxing the wrong axis shows.
    for seed, (batch, regions, hidden, d, a) in enumerate([(2, GRID * GRID, 5, 6, 4),
                                                           (3, GRID * GRID, 7, 3, 5),
                                                           (1, 4, 3, 8, 6), (2, 9, 4, 2, 3)]):
        g = _generator(60 + seed)
        yield (torch.randn(batch, hidden, generator=g),
               torch.randn(batch, regions, d, generator=g),
               torch.randn(hidden, a, generator=g), torch.randn(d, a, generator=g),
               2 * torch.randn(a, generator=g))


def _region_scores(z: Tensor, regions: Tensor, w_q: Tensor, w_k: Tensor, v: Tensor, *,
                   squash: bool = True, with_v: bool = True) -> Tensor:
    """eᵢ = vᵀ tanh(W_q z + W_k rᵢ), (batch, R); a mistake switched on by the flags."""
    hidden = (z @ w_q).unsqueeze(1) + regions @ w_k  # (batch, R, a): one query, every region
    hidden = torch.tanh(hidden) if squash else hidden
    return hidden @ v if with_v else hidden.sum(dim=-1)


def _weighted_regions(weights: Tensor, regions: Tensor) -> Tensor:
    return (weights.unsqueeze(1) @ regions).squeeze(1)  # c = Σᵢ αᵢ rᵢ, (batch, d)


def _regions_reference(z: Tensor, regions: Tensor, w_q: Tensor, w_k: Tensor,
                       v: Tensor) -> Tensor:
    alpha = torch.softmax(_region_scores(z, regions, w_q, w_k, v), dim=-1)  # over the regions
    return _weighted_regions(alpha, regions)


def _regions_shape(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    z, regions, w_q, w_k, v = args
    batch, count, d = regions.shape
    if tuple(got.shape) == (batch, w_k.shape[-1]) and w_k.shape[-1] != d:
        return (f"the output has shape {tuple(got.shape)}: a sum of the projected regions "
                f"W_k rᵢ. The context sums the region features themselves, c = Σᵢ αᵢ rᵢ, "
                f"shape {tuple(expected.shape)}")
    if tuple(got.shape) == (batch, count) and count != d:
        return (f"the output has shape {tuple(got.shape)}, one number per region: those are "
                f"the weights α. Return the context c = Σᵢ αᵢ rᵢ, shape "
                f"{tuple(expected.shape)}")
    return None


def _regions_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    z, regions, w_q, w_k, v = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    if _close(got, regions.mean(dim=1)):
        return ("the output is the plain mean of the regions: uniform weights, what the "
                "captioner *without* attention reads. Score every region against the "
                "decoder state and softmax the scores into α")
    if _close(got, regions.sum(dim=1)):
        return ("every region got weight 1: the softmax ran over an axis of size 1 (or was "
                "left out). Softmax the scores over the regions, dim=-1 of (batch, R)")
    scores = _region_scores(z, regions, w_q, w_k, v)
    if _close(got, _weighted_regions(scores, regions)):
        return ("the scores eᵢ were used as weights: softmax them first, so that the weights "
                "are ≥ 0 and sum to 1 over the regions")
    if _close(got, _weighted_regions(torch.softmax(
            _region_scores(z, regions, w_q, w_k, v, squash=False), dim=-1), regions)):
        return "the tanh is missing: eᵢ = vᵀ tanh(W_q z + W_k rᵢ)"
    if _close(got, _weighted_regions(torch.softmax(
            _region_scores(z, regions, w_q, w_k, v, with_v=False), dim=-1), regions)):
        return ("the hidden layer was summed instead of scored by v: eᵢ = vᵀ tanh(W_q z + "
                "W_k rᵢ), a dot product with v")
    if z.shape[0] > 1 and _close(got, _weighted_regions(torch.softmax(scores, dim=0),
                                                        regions)):
        return ("the softmax runs over the batch (dim 0), across images: run it over each "
                "image's regions, dim=-1")
    hard = torch.nn.functional.one_hot(scores.argmax(dim=-1), scores.shape[-1]).to(z.dtype)
    if _close(got, _weighted_regions(hard, regions)):
        return ("the output is the single best region: that is hard attention (an argmax). "
                "The captioner's soft weights give every region a share, α = softmax(e)")
    return None


def _regions_shape_hints(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    batch, d = expected.shape
    if tuple(got.shape) == (batch, batch, d) and batch > 1:
        return (f"the output has shape {tuple(got.shape)}: weights (batch, R) @ regions "
                "(batch, R, d) pairs every image's weights with every image's regions. Give "
                "the weights an axis of their own: (alpha.unsqueeze(1) @ regions).squeeze(1), "
                "or (alpha.unsqueeze(-1) * regions).sum(dim=1)")
    if tuple(got.shape) == (batch, 1, d):
        return (f"the output has shape {tuple(got.shape)}: drop the axis of the single query, "
                f".squeeze(1), to return {tuple(expected.shape)}")
    return None


def _hop_cases() -> Iterator[tuple]:
    for seed, (batch, n, d, lengths) in enumerate([(2, 4, 3, [4, 2]), (3, 5, 2, [1, 5, 3]),
                                                   (1, 3, 4, [3])]):
        g = _generator(70 + seed)
        mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        yield (torch.randn(batch, d, generator=g), torch.randn(batch, n, d, generator=g),
               torch.randn(batch, n, d, generator=g), mask)


def _hop_no_residual(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u = args[0]
    if _close(got, expected - u):
        return "you returned o alone: the next hop asks with u + o (keep what was asked)"
    return None


def _hop_swapped(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if _close(got, memory_hop(u, values, keys, mask)[0]):
        return ("keys and values are swapped: match u against the keys mᵢ, then sum the "
                "values cᵢ")
    return None


def _hop_mask(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if mask.all():
        return None
    if _close(got, memory_hop(u, keys, values, None)[0]):
        return ("padding sentences get weight: give them a score of -inf before the softmax "
                "(mask True = a real sentence)")
    return _hop_mask_inverted(args, got, expected)


def _hop_mask_inverted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if _nan_as_inverted_mask(mask, got) or _close(got, memory_hop(u, keys, values, ~mask)[0]):
        return "the mask is the wrong way round: True = a real sentence that may be attended"
    return None


def _hop_with(u: Tensor, keys: Tensor, values: Tensor, p: Tensor) -> Tensor:
    """u + Σᵢ pᵢ cᵢ for given weights p (batch, n)."""
    return u + (p.unsqueeze(1) @ values).squeeze(1)


def _hop_weights_wrong(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    scores = (keys @ u.unsqueeze(-1)).squeeze(-1)  # (batch, n)
    if (~mask).any():
        if _close(got, _hop_with(u, keys, values, torch.softmax(scores.masked_fill(~mask, 0.0),
                                                                dim=-1))):
            return ("padding got a score of 0, and exp(0) = 1 still gives it weight: fill it "
                    "with float('-inf') before the softmax")
        if _close(got, _hop_with(u, keys, values, torch.softmax(scores, dim=-1) * mask)):
            return ("zeroing the padding *after* the softmax leaves the real sentences' "
                    "weights summing to less than 1: mask the scores *before* the softmax")
    if u.shape[0] > 1 and _close(got, _hop_with(u, keys, values, torch.softmax(
            scores.masked_fill(~mask, float("-inf")), dim=0).nan_to_num())):
        return "the softmax runs over the batch (dim 0): run it over the sentences, dim=-1"
    return None


def _hop_scaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if u.shape[-1] > 1 and _close(got, memory_hop(u / u.shape[-1] ** 0.5, keys, values,
                                                  mask)[0] + u * (1 - u.shape[-1] ** -0.5)):
        return "a memory network matches with the plain dot product uᵀmᵢ, not divided by √d"
    return None


EXERCISES.update({
    "attend_to_regions": Exercise(
        name="attend_to_regions",
        signature="attend_to_regions(z (batch, hidden), regions (batch, R, d), "
                  "w_q (hidden, a), w_k (d, a), v (a,)) -> context (batch, d)",
        reference=_regions_reference,
        cases=_regions_cases,
        diagnoses=[_regions_shape, _shape, _regions_mistakes],
        shape_hints=[_regions_shape_hints],
    ),
    "memory_hop": Exercise(
        name="memory_hop",
        signature="memory_hop(u (batch, d), keys (batch, n, d), values (batch, n, d), "
                  "mask (batch, n)) -> u_next (batch, d)",
        reference=lambda u, k, v, m: memory_hop(u, k, v, m)[0],
        cases=_hop_cases,
        diagnoses=[_shape, _hop_mask_inverted, _hop_no_residual, _hop_swapped,
                   _hop_mask, _hop_weights_wrong, _hop_scaled],
        nan_hints=[_hop_mask_inverted],
    ),
})


# --------------------------------------------------------------------------- chapters 04, 05
def _self_attention_reference(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor) -> Tensor:
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)[0]


def _self_attention_cases() -> Iterator[tuple]:
    for seed, (n, d_model, d_k, d_v) in enumerate([(4, 6, 3, 2), (5, 4, 4, 3),
                                                       (1, 3, 2, 2)]):
        g = _generator(80 + seed)
        yield (torch.randn(n, d_model, generator=g), torch.randn(d_model, d_k, generator=g),
               torch.randn(d_model, d_k, generator=g), torch.randn(d_model, d_v, generator=g))


def _self_attention_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if _close(got, expected):
        return None
    x, w_q, w_k, w_v = args
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d_k = q.shape[-1]
    scores = q @ k.T
    if x.shape[0] > 1 and _close(got, torch.softmax(scores, dim=-1) @ v) and d_k > 1:
        return "the scores are not divided by √d_k: softmax(Q Kᵀ / √d_k) V"
    if x.shape[0] > 1 and _close(got, torch.softmax(scores / d_k ** 0.5, dim=0) @ v):
        return ("the softmax runs down the columns (dim 0): each query's weights over the keys "
                "must sum to 1, so softmax along each row, dim=-1")
    if x.shape[0] > 1 and _close(got, torch.softmax(scores / d_k ** 0.5, dim=-1) @ (x @ w_q)
                                 ) and not _close(w_q, w_v):
        return "the weighted sum is of the queries: sum the values V = X W_v"
    if x.shape[0] > 1 and d_k > 1 and _close(got, torch.softmax(scores / d_k, dim=-1) @ v):
        return "the scores are divided by d_k: divide by √d_k"
    d_model = x.shape[-1]
    if x.shape[0] > 1 and d_model != d_k and _close(
            got, torch.softmax(scores / d_model ** 0.5, dim=-1) @ v):
        return "the scores are divided by √d_model: divide by √d_k, the size of the keys"
    if x.shape[0] > 1 and _close(got, torch.softmax(scores / d_k ** 0.5, dim=-1).T @ v):
        return ("the weights are transposed (K Qᵀ, the notes' column form): in rows, row i of "
                "softmax(Q Kᵀ / √d_k) holds query i's weights")
    return None


def _causal_cases() -> Iterator[tuple]:
    # (q, k, v) of one sequence, then batches; n, d_k and d_v differ so a wrong axis shows.
    for seed, (lead, n, d_k, d_v) in enumerate([((), 4, 3, 2), ((2,), 5, 4, 3),
                                                ((2, 2), 3, 8, 5), ((), 1, 2, 2)]):
        g = _generator(90 + seed)
        yield (torch.randn(*lead, n, d_k, generator=g), torch.randn(*lead, n, d_k, generator=g),
               torch.randn(*lead, n, d_v, generator=g))


def _causal_attend(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor | None, *,
                   scale: float | None = None, dim: int = -1, fill: float = float("-inf")
                   ) -> Tensor:
    """softmax(q kᵀ / scale, masked where ``allowed`` is False) v: a mistake by the flags."""
    scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5 if scale is None else scale)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, fill)
    return torch.softmax(scores, dim=dim) @ v


def _lower(n: int, diagonal: int = 0) -> Tensor:
    return torch.ones(n, n, dtype=torch.bool).tril(diagonal)


def _causal_attention_reference(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    return _causal_attend(q, k, v, _lower(q.shape[-2]))  # position t sees 0 … t


def _causal_nan(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    """NaN exactly on the rows that a mistaken mask leaves without a key."""
    q, k, v = args
    n = q.shape[-2]
    bad = ~torch.isfinite(got)
    for allowed, message in ((~_lower(n), _CAUSAL_INVERTED), (_lower(n, -1), _CAUSAL_STRICT)):
        if torch.equal(bad, ~torch.isfinite(_causal_attend(q, k, v, allowed))):
            return f"{message} (its softmax is over −∞ only, hence the NaN)"
    return None


_CAUSAL_INVERTED = ("the mask is the wrong way round: position t must see the positions 0 … t "
                    "and hide the ones after it, but yours hides 0 … t and shows the future; "
                    "the last position has nothing left to attend to")
_CAUSAL_STRICT = ("the diagonal is masked too: position t may attend to itself (keep the "
                  "diagonal, .tril(), not .tril(-1)); the first position has nothing left to "
                  "attend to")


def _causal_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    q, k, v = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    n, d_k, d_v = q.shape[-2], q.shape[-1], v.shape[-1]
    lower = _lower(n)
    if n > 1 and _close(got, _causal_attend(q, k, v, None)):
        return ("nothing is masked: position t also attends to the positions after it (the "
                "future), which a decoder generating word by word does not have yet")
    if n > 1 and _close(got, _causal_attend(q, k, v, lower.T)):
        return ("the mask keeps the upper triangle: position t sees itself and the positions "
                "*after* it. Keep the lower triangle, .tril(): row t, columns 0 … t")
    if n > 1 and _close(got, _causal_attend(q, k, v, ~lower).nan_to_num(0.0)):
        return _CAUSAL_INVERTED
    if n > 1 and _close(got, _causal_attend(q, k, v, _lower(n, -1)).nan_to_num(0.0)):
        return _CAUSAL_STRICT
    weights = torch.softmax(q @ k.transpose(-2, -1) / d_k ** 0.5, dim=-1)
    if n > 1 and _close(got, (weights * lower) @ v):
        return ("the future was zeroed *after* the softmax, so each row's weights sum to less "
                "than 1: mask the scores *before* the softmax, with −∞ (exp(−∞) = 0)")
    if n > 1 and _close(got, _causal_attend(q, k, v, lower, fill=0.0)):
        return ("the future got a score of 0, and exp(0) = 1 still gives it weight: fill the "
                "masked scores with float('-inf'), not 0 (multiplying by the mask gives 0 too)")
    if d_k > 1 and _close(got, _causal_attend(q, k, v, lower, scale=1.0)):
        return "the scores are not divided by √d_k: softmax(Q Kᵀ / √d_k) with the mask, then V"
    if d_k > 1 and _close(got, _causal_attend(q, k, v, lower, scale=float(d_k))):
        return "the scores are divided by d_k: divide by √d_k"
    if d_v != d_k and _close(got, _causal_attend(q, k, v, lower, scale=d_v ** 0.5)):
        return "the scores are divided by √d_v: divide by √d_k, the size of the queries and keys"
    if n > 1 and _close(got, _causal_attend(q, k, v, lower, dim=-2)):
        return ("the softmax runs over the queries (dim=-2): each query's weights over the keys "
                "must sum to 1, so softmax along each row, dim=-1")
    if n > 1 and _close(got, torch.softmax((q @ k.transpose(-2, -1) / d_k ** 0.5).masked_fill(
            ~lower, float("-inf")), dim=-1).transpose(-2, -1) @ v):
        return ("the weights are transposed: row t of softmax(masked Q Kᵀ / √d_k) holds "
                "position t's weights; multiply it by V as it is")
    return None


def _mha_cases() -> Iterator[tuple]:
    # (x, w_q, w_k, w_v, w_o, h): the weights in the rows convention (Q = x @ w_q), no biases.
    for seed, (batch, n, d_model, h) in enumerate([(2, 3, 8, 2), (1, 5, 6, 3), (2, 4, 12, 4),
                                                   (1, 3, 4, 1)]):
        g = _generator(95 + seed)
        scale = d_model ** -0.5
        yield (torch.randn(batch, n, d_model, generator=g),
               *(scale * torch.randn(d_model, d_model, generator=g) for _ in range(4)), h)


def _mha(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor, w_o: Tensor, h: int, *,
         split: str = "blocks", merge: str = "blocks", scale: str = "d_h", dim: int = -1,
         order: str = "forward", out: bool = True) -> Tensor:
    """Multi-head attention with one mistake switched on (the defaults are right)."""
    batch, n, d = x.shape
    d_h = d // h

    def heads_of(t: Tensor) -> Tensor:  # (batch, n, d) → (batch, h, n, d_h)
        if split == "blocks":
            return t.reshape(batch, n, h, d_h).transpose(1, 2)
        if split == "interleaved":
            return t.reshape(batch, n, d_h, h).permute(0, 3, 1, 2)
        return t.reshape(batch, h, n, d_h)  # "across tokens"

    q, k, v = heads_of(x @ w_q), heads_of(x @ w_k), heads_of(x @ w_v)
    divide = {"d_h": d_h ** 0.5, "d_model": d ** 0.5, "none": 1.0}[scale]
    heads = torch.softmax(q @ k.transpose(-2, -1) / divide, dim=dim) @ v  # (batch, h, n, d_h)
    if order == "reversed":
        heads = heads.flip(1)
    if merge == "blocks":
        concat = heads.transpose(1, 2).reshape(batch, n, d)
    elif merge == "interleaved":
        concat = heads.permute(0, 2, 3, 1).reshape(batch, n, d)
    else:  # "across tokens"
        concat = heads.reshape(batch, n, d)
    return concat @ w_o if out else concat


def _mha_reference(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor, w_o: Tensor,
                   h: int) -> Tensor:
    return _mha(x, w_q, w_k, w_v, w_o, h)


def _mha_shape_hints(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, *_, h = args
    batch, n, d = x.shape
    if tuple(got.shape) == (batch, h, n, d // h):
        return (f"the output has shape {tuple(got.shape)}: the h heads' outputs, one "
                "(n, d_h) block per head. Concatenate each token's h pieces side by side, "
                "(batch, n, d_model), then mix them with W^O")
    return None


def _mha_head_size(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, *_, h = args
    batch, n, d = x.shape
    if h > 1 and tuple(got.shape) == (batch, n, d // h):
        return (f"the output has shape {tuple(got.shape)}, the size of one head (d_h = "
                "d_model / h): the heads were averaged or summed. Concatenate them (the "
                "total size stays d_model), then apply W^O")
    return None


def _mha_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, w_q, w_k, w_v, w_o, h = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    d = x.shape[-1]
    if _close(got, _mha(x, w_q, w_k, w_v, w_o, h, out=False)):
        return ("W^O is missing: the concatenated heads are mixed by the output projection, "
                "Concat(head₁, …, head_h) W^O")
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, 1, scale="d_model")):
        return (f"this is one attention over all d_model columns: split Q, K and V into h = {h} "
                "heads of d_model / h columns, attend in each head on its own, then "
                "concatenate")
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, scale="d_model")):
        return ("the scores are divided by √d_model: each head's queries and keys have "
                "d_h = d_model / h columns, so divide by √d_h")
    if d // h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, scale="none")):
        return "the scores are not divided by √d_h: head_i = softmax(Q_i K_iᵀ / √d_h) V_i"
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, order="reversed")):
        return ("the heads are concatenated in the wrong order: head 1's output takes columns "
                "0 … d_h − 1 of the concatenation, head 2's the next d_h, and so on — the "
                "order that the rows of W^O expect")
    if h > 1 and (_close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="interleaved"))
                  or _close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="interleaved",
                                      merge="interleaved"))):
        return ("head i got every h-th column (an interleaved split): head i holds the "
                "contiguous block of columns i·d_h … (i+1)·d_h − 1, reshape to "
                "(batch, n, h, d_h), then .transpose(1, 2)")
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, merge="interleaved")):
        return ("the heads are interleaved column by column in the concatenation: put each "
                "head's d_h numbers side by side, head 1 first — .transpose(1, 2) then "
                ".reshape(batch, n, d_model)")
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="across tokens")):
        return ("reshaping (batch, n, d_model) straight to (batch, h, n, d_h) cuts across "
                "tokens: reshape to (batch, n, h, d_h), each token's vector cut into h pieces, "
                "then .transpose(1, 2)")
    if h > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, merge="across tokens")):
        return ("reshaping the heads (batch, h, n, d_h) straight to (batch, n, d_model) mixes "
                "tokens: .transpose(1, 2) first, so each token's h pieces sit side by side")
    if _close(got, _mha(x, w_q.T, w_k.T, w_v.T, w_o.T, h)):
        return ("the weights are transposed: here they are in the rows convention, Q = x @ w_q "
                "(nn.Linear stores the transpose and computes x @ weight.T)")
    if x.shape[1] > 1 and _close(got, _mha(x, w_q, w_k, w_v, w_o, h, dim=-2)):
        return ("the softmax runs over the queries (dim=-2): in each head, each query's "
                "weights over the keys must sum to 1, dim=-1")
    return None


EXERCISES.update({
    "self_attention": Exercise(
        name="self_attention",
        signature="self_attention(x (n, d_model), w_q (d_model, d_k), w_k (d_model, d_k), "
                  "w_v (d_model, d_v)) -> (n, d_v)",
        reference=_self_attention_reference,
        cases=_self_attention_cases,
        diagnoses=[_shape, _self_attention_mistakes],
    ),
    "causal_attention": Exercise(
        name="causal_attention",
        signature="causal_attention(q (..., n, d_k), k (..., n, d_k), v (..., n, d_v)) -> "
                  "(..., n, d_v), position t attending to positions 0 … t only",
        reference=_causal_attention_reference,
        cases=_causal_cases,
        diagnoses=[_shape, _causal_mistakes],
        nan_hints=[_causal_nan],
        batched_case=True,
    ),
    "multi_head_attention": Exercise(
        name="multi_head_attention",
        signature="multi_head_attention(x (batch, n, d_model), w_q, w_k, w_v, w_o "
                  "(d_model, d_model) each, h) -> (batch, n, d_model)",
        reference=_mha_reference,
        cases=_mha_cases,
        diagnoses=[_mha_head_size, _shape, _mha_mistakes],
        shape_hints=[_mha_shape_hints],
    ),
})


# --------------------------------------------------------------------------- chapter 06
def _pe_cases() -> Iterator[tuple]:
    yield from ((n, d) for n, d in ((6, 4), (10, 8), (3, 2)))


def _pe_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    n, d = args
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    if got.shape != expected.shape or _close(got, expected):
        return None
    swapped = expected.clone()
    swapped[:, 0::2], swapped[:, 1::2] = expected[:, 1::2], expected[:, 0::2]
    if _close(got, swapped):
        return "sin and cos are swapped: even columns (0, 2, …) use sin, odd columns use cos"
    by_column = 10000 ** (-torch.arange(d, dtype=torch.float64) / d)  # j / d for every column
    odd_wrong = expected.clone().double()
    odd_wrong[:, 1::2] = torch.cos(pos * by_column[1::2])
    if _close(got, odd_wrong):
        return ("the odd columns use their own index j in the exponent: column 2i + 1 shares "
                "the frequency of column 2i, 10000^(−2i/d_model)")
    half = expected.clone().double()
    omega = 10000 ** (-torch.arange(d // 2, dtype=torch.float64) / d)  # i/d instead of 2i/d
    half[:, 0::2], half[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    if _close(got, half):
        return "the exponent is i/d_model: it is 2i/d_model (the column index of the sin column)"
    return None


def _offset_reference(k: int, d: int) -> Tensor:
    omega = frequencies(d, dtype=torch.float64)
    c, s = torch.cos(k * omega), torch.sin(k * omega)
    m = torch.zeros(d, d, dtype=torch.float64)
    m[0::2, 0::2], m[0::2, 1::2] = torch.diag(c), torch.diag(s)
    m[1::2, 0::2], m[1::2, 1::2] = torch.diag(-s), torch.diag(c)
    return m


def _offset_cases() -> Iterator[tuple]:
    yield from ((k, d) for k, d in ((1, 4), (3, 8), (5, 2)))


def _offset_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    k, d = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    if _close(got, expected.T):
        return (f"this matrix turns the other way: it maps PE[p] to PE[p − {k}]; put +sin above "
                "the diagonal of each block and −sin below")
    pe = sinusoidal_encoding(k + 4, d, dtype=torch.float64)
    if not _close(pe[k:] @ got.T, pe[k:] @ expected.T):
        return f"M_k PE[p] should equal PE[p + {k}]; check it on sinusoidal_encoding rows"
    return None


EXERCISES.update({
    "positional_encoding": Exercise(
        name="positional_encoding",
        signature="positional_encoding(num_positions, d_model) -> (num_positions, d_model)",
        reference=lambda n, d: sinusoidal_encoding(n, d, dtype=torch.float64),
        cases=_pe_cases,
        diagnoses=[_shape, _pe_mistakes],
    ),
    "offset_matrix": Exercise(
        name="offset_matrix",
        signature="offset_matrix(k, d_model) -> (d_model, d_model)",
        reference=_offset_reference,
        cases=_offset_cases,
        diagnoses=[_shape, _offset_mistakes],
    ),
})


# --------------------------------------------------------------------------- chapter 07
def _norm_reference(x: Tensor) -> Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=1e-5)


def _norm_cases() -> Iterator[tuple]:
    for seed, (shape, scale) in enumerate([((3, 4), 3.0), ((2, 3, 5), 3.0), ((1, 6), 3.0),
                                           ((2, 8), 0.01)]):  # a tiny variance: ε matters
        yield (scale * torch.randn(*shape, generator=_generator(110 + seed)) + 1,)


def _norm_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    (x,) = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    mean = x.mean(-1, keepdim=True)
    if _close(got, (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5)):
        return ("torch.var divides by n − 1 by default: LayerNorm uses the plain variance, "
                "x.var(-1, unbiased=False, keepdim=True)")
    if x.shape[0] > 1 and _close(got, torch.nn.functional.layer_norm(
            x.transpose(0, -1), x.transpose(0, -1).shape[-1:]).transpose(0, -1)):
        return ("you normalised across positions (dim 0): LayerNorm normalises each position's "
                "features, the last axis")
    if _close(got, (x - mean) / x.std(-1, unbiased=False, keepdim=True)):
        return ("almost: add ε = 1e-5 to the variance inside the square root (it matters when "
                "a position's variance is tiny, as in this case)")
    if _close(got, (x - mean.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-5)):
        return "you normalised the whole tensor at once: normalise each position on its own"
    if _close(got, x - mean):
        return "the mean is removed but the result is not divided by the standard deviation"
    return None


def _add_norm_reference(x: Tensor, sublayer_out: Tensor) -> Tensor:
    return _norm_reference(x + sublayer_out)


def _add_norm_cases() -> Iterator[tuple]:
    for seed, shape in enumerate([(3, 4), (2, 3, 5)]):
        g = _generator(120 + seed)
        yield 2 * torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)


def _add_norm_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, out = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    if _close(got, x + _norm_reference(out)):
        return ("that normalises the sublayer's output and then adds x unnormalised, "
                "x + LayerNorm(sublayer(x)): neither post-norm nor pre-norm (pre-norm normalises "
                "the sublayer's input, x + sublayer(LayerNorm(x))); the notes' block (post-norm) "
                "adds first and normalises the sum: LayerNorm(x + sublayer(x))")
    if _close(got, _norm_reference(out)):
        return "the residual is missing: add x before normalising, LayerNorm(x + sublayer(x))"
    if _close(got, x + out):
        return "the sum is not normalised: LayerNorm(x + sublayer(x))"
    return None


EXERCISES.update({
    "layer_norm": Exercise(
        name="layer_norm",
        signature="layer_norm(x (..., d)) -> (..., d), each position: mean 0, variance 1",
        reference=_norm_reference,
        cases=_norm_cases,
        diagnoses=[_shape, _norm_mistakes],
        atol=1e-4,
    ),
    "add_and_norm": Exercise(
        name="add_and_norm",
        signature="add_and_norm(x (..., d), sublayer_out (..., d)) -> (..., d)",
        reference=_add_norm_reference,
        cases=_add_norm_cases,
        diagnoses=[_shape, _add_norm_mistakes],
        atol=1e-4,
    ),
})


# --------------------------------------------------------------------------- chapter 08
def _sharpen_cases() -> Iterator[tuple]:
    for seed, (batch, n, gammas) in enumerate([(2, 5, [1.0, 3.0]), (3, 4, [2.0, 1.0, 10.0]),
                                               (2, 6, [200.0, 50.0])]):
        g = _generator(130 + seed)
        w = torch.softmax(torch.randn(batch, n, generator=g), dim=-1)
        yield w, torch.tensor(gammas)[:, None]


def _sharpen_underflow(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    w, gamma = args
    if _non_finite_within(got, w ** gamma / (w ** gamma).sum(dim=-1, keepdim=True)):
        return (f"the output has NaN: with γ = {gamma.max().item():.0f} every wᵢ^γ of a row "
                "underflows to 0 in float32 (0.3^200 ≈ 1e-105 < 1e-45), and 0 / 0 = NaN. "
                "Work in log space: wᵢ^γ = exp(γ · log wᵢ), so the weighting is "
                "softmax(γ · log w), which subtracts the largest exponent for you")
    return None


def _sharpen_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    w, gamma = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    if _close(got, w ** gamma):
        return "the powers are not renormalised: divide by Σⱼ wⱼ^γ so the weighting sums to 1"
    if _close(got, torch.softmax(w * gamma, dim=-1)):
        return "that is softmax(γ w), not wᵢ^γ / Σⱼ wⱼ^γ: raise each weight to the power γ"
    if _close(got, (w ** gamma) / (w ** gamma).sum(dim=0, keepdim=True)):
        return "the sum runs over the batch (dim 0): normalise each row, dim=-1"
    if _close(got, torch.softmax(gamma * w.log(), dim=0)):
        return "the softmax runs over the batch (dim 0): normalise each row, dim=-1"
    return None


def _write_cases() -> Iterator[tuple]:
    for seed, (batch, n, m) in enumerate([(2, 4, 3), (1, 5, 2)]):
        g = _generator(140 + seed)
        yield (torch.randn(batch, n, m, generator=g),
               torch.softmax(2 * torch.randn(batch, n, generator=g), dim=-1),
               torch.rand(batch, m, generator=g), torch.randn(batch, m, generator=g))


def _write_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    memory, w, erase, add = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    wide = w.unsqueeze(-1)
    if _close(got, memory * (1 - erase.unsqueeze(1)) + wide * add.unsqueeze(1)):
        return ("the erase ignores the weighting: a row is erased only as much as it is "
                "attended, M ⊙ (1 − w eᵀ)")
    if _close(got, (memory + wide * add.unsqueeze(1)) * (1 - wide * erase.unsqueeze(1))):
        return "add came before erase: erase first, then add (eq. 3, then eq. 4)"
    if _close(got, memory * (1 - wide * erase.unsqueeze(1))):
        return "the add step is missing: + w aᵀ"
    if _close(got, memory + wide * add.unsqueeze(1)):
        return "the erase step is missing: M ⊙ (1 − w eᵀ) before adding"
    if _close(got, memory * (1 - wide * erase.unsqueeze(1)) + add.unsqueeze(1)):
        return ("the add is not weighted: every row received all of a; row i receives wᵢ a, "
                "+ w aᵀ")
    if _close(got, memory - wide * erase.unsqueeze(1) + wide * add.unsqueeze(1)):
        return ("the erase subtracts w eᵀ; it multiplies: M ⊙ (1 − w eᵀ), so a row attended "
                "fully with e = 1 becomes 0 whatever it held")
    return None


EXERCISES.update({
    "sharpen": Exercise(
        name="sharpen",
        signature="sharpen(w (batch, N), gamma (batch, 1)) -> (batch, N)",
        reference=sharpen,
        cases=_sharpen_cases,
        diagnoses=[_shape, _weights_non_negative, _sharpen_mistakes],
        nan_hints=[_sharpen_underflow],
        atol=1e-5,
    ),
    "erase_then_add": Exercise(
        name="erase_then_add",
        signature="erase_then_add(memory (batch, N, M), w (batch, N), erase (batch, M), "
                  "add (batch, M)) -> (batch, N, M)",
        reference=write,
        cases=_write_cases,
        diagnoses=[_shape, _write_mistakes],
        keeps_inputs=True,
    ),
})


def _rounded(t: Tensor) -> list:
    """Nested lists of the values rounded to 3 decimals (for messages)."""
    return [_rounded(row) for row in t] if t.dim() else round(float(t), 3)


_BATCH_HINT = ("this case is a batch, (batch, n_q, ...): use .transpose(-2, -1), which swaps "
               "the last two axes, rather than .T, which reverses all of them")


def _error_hint(exercise: Exercise, text: str, args: tuple) -> str:
    if exercise.batched_case and args[0].dim() > 2:
        return f" Hint: {_BATCH_HINT}."
    for pattern, hint in _ERROR_HINTS.get(exercise.name, []):
        if pattern in text:
            return f" Hint: {hint}."
    return ""


# --------------------------------------------------------------------------- checking
def _describe(args: tuple) -> str:
    return ", ".join(f"shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a)
                     for a in args)


# The chapter whose notebook asks for each exercise (for the learner's progress report).
EXERCISE_CHAPTERS = {
    "scores": "01_attention_and_memory", "attention_weights": "01_attention_and_memory",
    "context_vector": "01_attention_and_memory",
    "batch_context": "02_seq2seq_attention", "padded_attention_weights": "02_seq2seq_attention",
    "attend_to_regions": "03_attention_applications", "memory_hop": "03_attention_applications",
    "self_attention": "04_self_attention", "causal_attention": "04_self_attention",
    "multi_head_attention": "05_multi_head_attention",
    "positional_encoding": "06_positional_encoding", "offset_matrix": "06_positional_encoding",
    "layer_norm": "07_transformer_encoder", "add_and_norm": "07_transformer_encoder",
    "sharpen": "08_neural_turing_machines", "erase_then_add": "08_neural_turing_machines",
    "merge_partials": "09_the_cost_of_attention",
    "online_logsumexp": "09_the_cost_of_attention",
    "shift_right": "10_transformer", "attend_with_cache": "10_transformer",
}


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
        diagnoses = [*exercise.shape_hints, _shape]
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


# --------------------------------------------------------------------------- chapter 09
def _partials_cases() -> Iterator[tuple]:
    # two halves of the keys, each summarised by its (max, sum, weighted sum); the last case
    # has a first half whose keys are all masked (m = −inf, ℓ = 0, a = 0)
    for seed, (batch, n_q, n_k, d_v, scale, masked) in enumerate(
            [(2, 3, 8, 4, 1.0, False), (1, 4, 10, 2, 30.0, False), (2, 2, 6, 3, 1.0, True)]):
        g = _generator(150 + seed)
        scores = torch.randn(batch, n_q, n_k, generator=g) * scale
        values = torch.randn(batch, n_k, d_v, generator=g)
        half = n_k // 2
        if masked:
            scores[..., :half] = float("-inf")
        parts = []
        for block in (slice(0, half), slice(half, n_k)):
            state = OnlineSoftmax(scores.shape[:-1], d_v, scores.dtype, scores.device)
            state.update(scores[..., block], values[:, block])
            parts += [state.max, state.total, state.weighted]
        yield tuple(parts)


def _merge_reference(m1: Tensor, l1: Tensor, a1: Tensor, m2: Tensor, l2: Tensor,
                     a2: Tensor) -> Tensor:
    m = torch.maximum(m1, m2)
    r1, r2 = torch.exp(m1 - m), torch.exp(m2 - m)
    return (a1 * r1 + a2 * r2) / (l1 * r1 + l2 * r2)


def _merge_not_finite(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    m1, l1, a1, m2, l2, a2 = args
    if _non_finite_within(got, m1):  # NaN or inf only on the rows whose first half is masked
        return ("the output has NaN or inf: in this case the first half's keys are all "
                "masked (m₁ = −inf, ℓ₁ = 0, a₁ = 0); with the common maximum m = max(m₁, m₂), "
                "exp(m₁ − m) = 0, which is what you want — divide only by the combined ℓ")
    m = torch.maximum(m1, m2)
    up1, up2, raw1, raw2 = torch.exp(m - m1), torch.exp(m - m2), torch.exp(m1), torch.exp(m2)
    if _non_finite_within(got, (a1 * up1 + a2 * up2) / (l1 * up1 + l2 * up2),
                          (a1 * raw1 + a2 * raw2) / (l1 * raw1 + l2 * raw2)):
        return ("the output has NaN or inf: rescale each half by exp(mᵢ − m) with m the larger "
                "maximum, so that every factor is ≤ 1")
    return None


def _merge_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    m1, l1, a1, m2, l2, a2 = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    m = torch.maximum(m1, m2)
    r1, r2 = torch.exp(m1 - m), torch.exp(m2 - m)
    if _close(got, a1 * r1 + a2 * r2):
        return "a is not yet the output: divide the merged a by the merged ℓ"
    if _close(got, (a1 * r1 + a2 * r2) / (l1 + l2)):
        return "a was rescaled but ℓ was not: ℓ₁ and ℓ₂ need the same factors exp(mᵢ − m)"
    up1, up2 = torch.exp(m - m1), torch.exp(m - m2)
    if _close(got, (a1 * up1 + a2 * up2) / (l1 * up1 + l2 * up2)):
        return ("the rescale factors are upside down: a half computed with maximum mᵢ is "
                "brought to the larger m by exp(mᵢ − m) ≤ 1, not exp(m − mᵢ)")
    low = torch.minimum(m1, m2)
    d1, d2 = torch.exp(m1 - low), torch.exp(m2 - low)
    if _close(got, (a1 * d1 + a2 * d2) / (l1 * d1 + l2 * d2)):
        return "use the larger maximum, torch.maximum(m1, m2), so that every factor is ≤ 1"
    if _close(got, (a1 + a2) / (l1 + l2)):
        return ("the halves were added without rescaling: each was computed with its own "
                "maximum, so bring both to m = max(m₁, m₂) first — multiply ℓ₁ and a₁ by "
                "exp(m₁ − m), ℓ₂ and a₂ by exp(m₂ − m)")
    if _close(got, (a1 / l1 + a2 / l2) / 2):
        return ("averaging the two halves' outputs weighs them equally; each half counts by its "
                "share of the softmax mass, ℓᵢ · exp(mᵢ − m)")
    return None


def _logsumexp_cases() -> Iterator[tuple]:
    for seed, (shape, scale, chunk) in enumerate([((2, 10), 1.0, 3), ((3, 7), 5.0, 7),
                                                  ((2, 2, 13), 2000.0, 4), ((1, 9), 1.0, 1),
                                                  ((2, 8), 1.0, 3)]):
        scores = torch.randn(*shape, generator=_generator(160 + seed)) * scale
        yield (scores - 3000 if seed == 4 else scores), chunk  # the last: all far below 0


def _logsumexp_reference(scores: Tensor, chunk: int) -> Tensor:
    return torch.logsumexp(scores, dim=-1, keepdim=True)


def _logsumexp_not_finite(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    scores, chunk = args
    naive = scores.exp().sum(dim=-1, keepdim=True).log()  # −inf: all underflow; inf: overflow
    if (scores < -1000).all() and _non_finite_within(got, naive):
        return ("the output is −inf or NaN: these scores are all near −3000, and exp(s − m) "
                "underflows to 0 unless m is their own maximum — start the running maximum "
                "at −inf (the first block then sets it), not at 0")
    # a factor exp(m_new − m_old) or a start exp(m − (−inf)) gives inf · 0 = NaN on every row
    if scores.abs().max() < 100 and not torch.isfinite(got).any():
        return ("the output is inf or NaN although these scores are small: check the "
                "rescale factor exp(m_old − m_new), which must be ≤ 1, and the start "
                "m = −inf (exp(−inf − m) = 0, but exp(m − (−inf)) = inf)")
    if _non_finite_within(got, naive):
        return ("the output is inf or NaN: these scores reach the thousands and exp(2000) "
                "overflows. Keep a running maximum m and sum exp(s − m) instead; the answer is "
                "m + log(sum)")
    return None


def _logsumexp_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    scores, chunk = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    blocks = scores.split(chunk, dim=-1)
    maxima = [b.amax(dim=-1, keepdim=True) for b in blocks]
    unscaled = sum(torch.exp(b - m).sum(dim=-1, keepdim=True)
                   for b, m in zip(blocks, maxima, strict=True))
    if _close(got, maxima[-1] + torch.log(unscaled)) or _close(
            got, torch.stack(maxima).amax(0) + torch.log(unscaled)):
        return ("each block's sum was taken with its own maximum and the sums were added as "
                "they were: when the maximum grows from m to m', multiply the running sum by "
                "exp(m − m') before adding the new block")
    if _close(got, blocks[-1].logsumexp(dim=-1, keepdim=True)):
        return "only the last block counts: the running sum must carry over from block to block"
    if _close(got, expected - scores.amax(dim=-1, keepdim=True)):
        return "the running maximum was not added back: log Σ exp(s) = m + log Σ exp(s − m)"
    return None


EXERCISES.update({
    "merge_partials": Exercise(
        name="merge_partials",
        signature="merge_partials(m1, l1, a1, m2, l2, a2) -> (..., n_q, d_v), with m, l "
                  "(..., n_q, 1) and a (..., n_q, d_v)",
        reference=_merge_reference,
        cases=_partials_cases,
        diagnoses=[_shape, _merge_mistakes],
        nan_hints=[_merge_not_finite],
    ),
    "online_logsumexp": Exercise(
        name="online_logsumexp",
        signature="online_logsumexp(scores (..., n), chunk: int) -> (..., 1)",
        reference=_logsumexp_reference,
        cases=_logsumexp_cases,
        diagnoses=[_logsumexp_mistakes, _shape],
        nan_hints=[_logsumexp_not_finite],
        atol=1e-3,
    ),
})


# --------------------------------------------------------------------------- chapter 10
def _shift_cases() -> Iterator[tuple]:
    # Rows: sentence ids (≥ 3), then <eos> = 2, then <pad> = 0; a full-length row has no pad.
    yield torch.tensor([[5, 7, 9, 2]]), 1
    yield torch.tensor([[5, 7, 2, 0, 0], [4, 6, 8, 3, 2]]), 1
    yield torch.tensor([[12, 2, 0], [3, 4, 2]]), 7   # another <bos> id


def _shift_reference(target_out: Tensor, bos_id: int) -> Tensor:
    shifted = torch.cat([torch.full_like(target_out[:, :1], bos_id), target_out[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == 2, 0)


def _shift_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    target_out, bos_id = args
    if got.shape != expected.shape:
        if got.shape[-1] == expected.shape[-1] + 1:
            return ("the output is one longer than the target: drop the last column when "
                    "you put <bos> in front (target_out[:, :-1])")
        return None
    if torch.equal(got, expected):
        return None
    kept = torch.cat([torch.full_like(target_out[:, :1], bos_id), target_out[:, :-1]], dim=1)
    if torch.equal(got, kept):
        return ("the <eos> that moved into the input is still there: the decoder never reads "
                "<eos> (it stops there), so replace it by <pad> (0)")
    if torch.equal(got, target_out):
        return "the target is returned unchanged: put bos_id first and move every id right"
    unmasked_left = torch.cat([target_out[:, 1:], torch.full_like(target_out[:, :1], bos_id)],
                              dim=1)
    if torch.equal(got[:, :-1], target_out[:, 1:]) or torch.equal(
            got, unmasked_left.masked_fill(unmasked_left == 2, 0)):
        return ("the row is shifted the wrong way (left): the input is <bos> followed by the "
                "target moved one place to the RIGHT")
    if (got[:, 0] != bos_id).any():
        return f"every row must start with bos_id (= {bos_id} in this case)"
    if torch.equal(got[:, 1:], target_out[:, 1:].masked_fill(target_out[:, 1:] == 2, 0)):
        return ("nothing moved: bos_id only replaced the first word. Put it in front and move "
                "every id one place right (dropping the last column)")
    return (f"the input differs.\n  expected {expected.tolist()}\n  got      {got.tolist()}")


def _cache_cases() -> Iterator[tuple]:
    # (q_t, k_t, v_t, k_cache, v_cache); d ≠ d_v ≠ t so that a wrong axis shows.
    for seed, (lead, t, d, d_v) in enumerate([((), 3, 4, 2), ((), 1, 8, 3), ((2,), 5, 4, 6),
                                              ((2, 3), 4, 16, 5)]):
        g = _generator(170 + seed)
        yield (torch.randn(*lead, 1, d, generator=g), torch.randn(*lead, 1, d, generator=g),
               torch.randn(*lead, 1, d_v, generator=g), torch.randn(*lead, t, d, generator=g),
               torch.randn(*lead, t, d_v, generator=g))


def _cache_reference(q_t, k_t, v_t, k_cache, v_cache) -> Tensor:
    keys, values = torch.cat([k_cache, k_t], dim=-2), torch.cat([v_cache, v_t], dim=-2)
    return torch.softmax(q_t @ keys.transpose(-2, -1) / keys.shape[-1] ** 0.5, dim=-1) @ values


def _cache_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    q_t, k_t, v_t, k_cache, v_cache = args
    if got.shape != expected.shape or _close(got, expected):
        return None
    d = q_t.shape[-1]

    def attend(keys, values, scale):
        return torch.softmax(q_t @ keys.transpose(-2, -1) / scale, dim=-1) @ values

    if _close(got, attend(k_cache, v_cache, d ** 0.5)):
        return ("only the cache was attended to: position t also attends to itself — "
                "append k_t and v_t to the cache first (torch.cat along dim=-2)")
    if _close(got, v_t):
        return ("the output is v_t: the new position attended only to itself; the cache holds "
                "the keys and values of every earlier position")
    keys, values = torch.cat([k_cache, k_t], dim=-2), torch.cat([v_cache, v_t], dim=-2)
    if _close(got, attend(keys, values, 1.0)):
        return "the scores are not scaled: divide q·k by √d (d = the keys' size)"
    if _close(got, attend(keys, values, float(d))):
        return "the scores were divided by d; scaled dot-product attention divides by √d"
    d_v = v_t.shape[-1]
    if d_v != d and _close(got, attend(keys, values, d_v ** 0.5)):
        return "the scores were divided by √d_v; divide by √d, the size of the queries and keys"
    if _close(got, attend(keys, values, keys.shape[-2] ** 0.5)):
        return ("the scores were divided by √(t + 1), the number of keys; divide by √d, the size "
                "of the queries and keys")
    if _close(got, v_cache[..., :1, :]):
        return ("the output is the first cached value: a causal mask built for one query (e.g. "
                "is_causal=True) lets it see only key 0. No mask is needed here — nothing in "
                "the cache is in the future")
    if _close(got, values.sum(dim=-2, keepdim=True)):
        return ("every weight is 1: the softmax went over the wrong axis — normalise the "
                "scores (..., 1, t + 1) over the keys, dim=-1")
    return None


EXERCISES.update({
    "shift_right": Exercise(
        name="shift_right",
        signature="shift_right(target_out (batch, m) ids, bos_id: int) -> (batch, m) ids",
        reference=_shift_reference,
        cases=_shift_cases,
        diagnoses=[_shift_mistakes, _shape],
        keeps_inputs=True,
    ),
    "attend_with_cache": Exercise(
        name="attend_with_cache",
        signature="attend_with_cache(q_t (..., 1, d), k_t (..., 1, d), v_t (..., 1, d_v), "
                  "k_cache (..., t, d), v_cache (..., t, d_v)) -> (..., 1, d_v)",
        reference=_cache_reference,
        cases=_cache_cases,
        diagnoses=[_shape, _cache_mistakes],
        keeps_inputs=True,
    ),
})
