"""Chapter 01's exercises: the scores, the attention weights and the context vector.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...mechanisms.attention import (
    context_vector,
    dot_product_scores,
    masked_softmax,
)
from .engine import (
    Exercise,
    close,
    generator,
    non_finite_within,
    register,
    weights_non_negative,
    weights_sum_to_one,
    wrong_shape,
)

CHAPTER = "01_attention_and_memory"


def _score_cases() -> Iterator[tuple]:
    # n_q, n_k and d all differ, so a transpose in the wrong place shows up as a shape error.
    for seed, (n_q, n_k, d) in enumerate([(2, 3, 4), (1, 5, 2), (4, 1, 3), (3, 6, 5)]):
        g = generator(seed)
        yield torch.randn(n_q, d, generator=g), torch.randn(n_k, d, generator=g)
    g = generator(9)  # last: a batch, (batch, n_q, d) and (batch, n_k, d)
    yield torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g)


def _weight_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k) in enumerate([(2, 3), (4, 5), (3, 1)]):
        yield (torch.randn(n_q, n_k, generator=generator(10 + seed)) * 2,)
    # Large scores overflow exp() unless each row's maximum is subtracted first (and one
    # maximum for the whole tensor makes the second row underflow to 0/0).
    yield (torch.tensor([[1000.0, 999.0, 990.0], [-5.0, 800.0, 0.0]]),)
    yield (torch.randn(2, 3, 4, generator=generator(14)),)  # a batch (batch, n_q, n_k)


def _context_cases() -> Iterator[tuple]:
    for seed, (n_q, n_k, d_v) in enumerate([(2, 3, 4), (1, 4, 2), (3, 5, 1), (2, 1, 3)]):
        g = generator(20 + seed)
        weights = torch.softmax(torch.randn(n_q, n_k, generator=g), dim=-1)
        yield weights, torch.randn(n_k, d_v, generator=g)
    g = generator(29)  # a batch
    yield torch.softmax(torch.randn(2, 3, 4, generator=g), dim=-1), torch.randn(2, 4, 2,
                                                                               generator=g)


def _softmax_overflow(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    (scores,) = args
    e, shifted = scores.exp(), (scores - scores.max()).exp()  # no maximum; one for all rows
    if non_finite_within(got, e / e.sum(dim=-1, keepdim=True),
                         shifted / shifted.sum(dim=-1, keepdim=True)):
        return ("the output contains NaN or inf. exp() of a large score overflows to inf, and "
                "subtracting one maximum for the whole tensor can make a whole row underflow "
                "to 0/0: subtract each row's own maximum, "
                "scores.max(dim=-1, keepdim=True).values, before exp() (softmax is unchanged "
                "by that shift)")
    return None


def _weights_hard(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    one_hot = ((got == 0) | (got == 1)).all() and not ((expected == 0) | (expected == 1)).all()
    if one_hot:
        return ("the weights are one-hot: that is hard attention (an argmax). The soft "
                "weights are exp(sᵢ) / Σⱼ exp(sⱼ): every key gets a share")
    return None


def _weights_reversed(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if close(got, torch.softmax(-args[0], dim=-1)) and not close(got, expected):
        return ("the lowest score gets the highest weight: that is softmax(-scores). A better "
                "match (a higher score) must get more attention")
    return None


def _scores_scaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    d = args[0].shape[-1]
    if d > 1 and close(got * d**0.5, expected):
        return ("the scores are divided by √d; this exercise asks for the plain dot product "
                "q·k (the scaled version comes in chapter 04)")
    if d > 1 and close(got * d, expected):
        return ("the scores are divided by d; the plain dot product q·k has no scaling (and "
                "the Transformer divides by √d, not d)")
    return None


def _scores_softmaxed(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if args[1].shape[-2] > 1 and close(got, torch.softmax(expected, dim=-1)):
        return ("these are already attention weights (a softmax of the scores): this step is "
                "only the scores q·k; the softmax is exercise 2")
    return None


def _context_unweighted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    weights, values = args
    if weights.shape[-1] == 1:
        return None
    if close(got, values.sum(dim=-2, keepdim=True).expand_as(expected)):
        return ("the output is the plain sum of the values: weight each value vᵢ by its "
                "attention weight αᵢ, c = Σᵢ αᵢ vᵢ")
    if close(got, values.mean(dim=-2, keepdim=True).expand_as(expected)):
        return ("the output is the plain mean of the values, what uniform weights would give: "
                "use the attention weights, c = Σᵢ αᵢ vᵢ")
    if close(got * weights.shape[-1], expected):
        return ("the output is divided by n_k: the weights already sum to 1, so c = Σᵢ αᵢ vᵢ "
                "needs no further averaging")
    return None


# Hints for errors raised inside the learner's function: (pattern in the message, hint).
_MATMUL_SCORES = ("query is (n_q, d) and keys (n_k, d): one dot product per (query, key) pair is "
                  "query @ keys.transpose(-2, -1), shape (n_q, n_k)")


register(
    CHAPTER,
    Exercise(
        name="scores",
        signature="scores(query (..., n_q, d), keys (..., n_k, d)) -> (..., n_q, n_k)",
        reference=lambda q, k: dot_product_scores(q, k, scaled=False),
        cases=_score_cases,
        diagnoses=[wrong_shape, _scores_scaled, _scores_softmaxed],
        batched_case=True,
        error_hints=[("cannot be multiplied", _MATMUL_SCORES),
                     ("must match the size", _MATMUL_SCORES)],
    ),
    Exercise(
        name="attention_weights",
        signature="attention_weights(scores (..., n_q, n_k)) -> weights (..., n_q, n_k)",
        reference=lambda s: masked_softmax(s),
        cases=_weight_cases,
        diagnoses=[wrong_shape, weights_non_negative, _weights_hard, weights_sum_to_one,
                   _weights_reversed],
        nan_hints=[_softmax_overflow],
        batched_case=True,
        error_hints=[
            ("return_types.max", "scores.max(dim=-1) gives (values, indices): use "
                                 "scores.max(dim=-1, keepdim=True).values"),
            ("must match the size", "keep the summed axis so that the division broadcasts row by "
                                    "row: e.sum(dim=-1, keepdim=True)"),
        ],
    ),
    Exercise(
        name="context_vector",
        signature="context_vector(weights (..., n_q, n_k), values (..., n_k, d_v)) -> "
                  "(..., n_q, d_v)",
        reference=context_vector,
        cases=_context_cases,
        diagnoses=[wrong_shape, _context_unweighted],
        batched_case=True,
        error_hints=[
            ("cannot be multiplied", "weights (n_q, n_k) @ values (n_k, d_v) gives (n_q, d_v): the "
                                     "key axis meets in the middle, no transpose is needed"),
        ],
    ),
)
