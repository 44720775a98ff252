"""Chapter 04's exercises: self-attention and causal (masked) self-attention.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...mechanisms.attention import (
    scaled_dot_product_attention,
)
from .engine import (
    Exercise,
    close,
    generator,
    register,
    wrong_shape,
)

CHAPTER = "04_self_attention"


def _self_attention_reference(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor) -> Tensor:
    return scaled_dot_product_attention(x @ w_q, x @ w_k, x @ w_v)[0]


def _self_attention_cases() -> Iterator[tuple]:
    for seed, (n, d_model, d_k, d_v) in enumerate([(4, 6, 3, 2), (5, 4, 4, 3),
                                                       (1, 3, 2, 2)]):
        g = generator(80 + seed)
        yield (torch.randn(n, d_model, generator=g), torch.randn(d_model, d_k, generator=g),
               torch.randn(d_model, d_k, generator=g), torch.randn(d_model, d_v, generator=g))


def _self_attention_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if close(got, expected):
        return None
    x, w_q, w_k, w_v = args
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    d_k = q.shape[-1]
    scores = q @ k.T
    if x.shape[0] > 1 and close(got, torch.softmax(scores, dim=-1) @ v) and d_k > 1:
        return "the scores are not divided by √d_k: softmax(Q Kᵀ / √d_k) V"
    if x.shape[0] > 1 and close(got, torch.softmax(scores / d_k ** 0.5, dim=0) @ v):
        return ("the softmax runs down the columns (dim 0): each query's weights over the keys "
                "must sum to 1, so softmax along each row, dim=-1")
    if x.shape[0] > 1 and close(got, torch.softmax(scores / d_k ** 0.5, dim=-1) @ (x @ w_q)
                                ) and not close(w_q, w_v):
        return "the weighted sum is of the queries: sum the values V = X W_v"
    if x.shape[0] > 1 and d_k > 1 and close(got, torch.softmax(scores / d_k, dim=-1) @ v):
        return "the scores are divided by d_k: divide by √d_k"
    d_model = x.shape[-1]
    if x.shape[0] > 1 and d_model != d_k and close(
            got, torch.softmax(scores / d_model ** 0.5, dim=-1) @ v):
        return "the scores are divided by √d_model: divide by √d_k, the size of the keys"
    if x.shape[0] > 1 and close(got, torch.softmax(scores / d_k ** 0.5, dim=-1).T @ v):
        return ("the weights are transposed (K Qᵀ, the notes' column form): in rows, row i of "
                "softmax(Q Kᵀ / √d_k) holds query i's weights")
    return None


def _causal_cases() -> Iterator[tuple]:
    # (q, k, v) of one sequence, then batches; n, d_k and d_v differ so a wrong axis shows.
    for seed, (lead, n, d_k, d_v) in enumerate([((), 4, 3, 2), ((2,), 5, 4, 3),
                                                ((2, 2), 3, 8, 5), ((), 1, 2, 2)]):
        g = generator(90 + seed)
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
    if got.shape != expected.shape or close(got, expected):
        return None
    n, d_k, d_v = q.shape[-2], q.shape[-1], v.shape[-1]
    lower = _lower(n)
    if n > 1 and close(got, _causal_attend(q, k, v, None)):
        return ("nothing is masked: position t also attends to the positions after it (the "
                "future), which a decoder generating word by word does not have yet")
    if n > 1 and close(got, _causal_attend(q, k, v, lower.T)):
        return ("the mask keeps the upper triangle: position t sees itself and the positions "
                "*after* it. Keep the lower triangle, .tril(): row t, columns 0 … t")
    if n > 1 and close(got, _causal_attend(q, k, v, ~lower).nan_to_num(0.0)):
        return _CAUSAL_INVERTED
    if n > 1 and close(got, _causal_attend(q, k, v, _lower(n, -1)).nan_to_num(0.0)):
        return _CAUSAL_STRICT
    weights = torch.softmax(q @ k.transpose(-2, -1) / d_k ** 0.5, dim=-1)
    if n > 1 and close(got, (weights * lower) @ v):
        return ("the future was zeroed *after* the softmax, so each row's weights sum to less "
                "than 1: mask the scores *before* the softmax, with −∞ (exp(−∞) = 0)")
    if n > 1 and close(got, _causal_attend(q, k, v, lower, fill=0.0)):
        return ("the future got a score of 0, and exp(0) = 1 still gives it weight: fill the "
                "masked scores with float('-inf'), not 0 (multiplying by the mask gives 0 too)")
    if d_k > 1 and close(got, _causal_attend(q, k, v, lower, scale=1.0)):
        return "the scores are not divided by √d_k: softmax(Q Kᵀ / √d_k) with the mask, then V"
    if d_k > 1 and close(got, _causal_attend(q, k, v, lower, scale=float(d_k))):
        return "the scores are divided by d_k: divide by √d_k"
    if d_v != d_k and close(got, _causal_attend(q, k, v, lower, scale=d_v ** 0.5)):
        return "the scores are divided by √d_v: divide by √d_k, the size of the queries and keys"
    if n > 1 and close(got, _causal_attend(q, k, v, lower, dim=-2)):
        return ("the softmax runs over the queries (dim=-2): each query's weights over the keys "
                "must sum to 1, so softmax along each row, dim=-1")
    if n > 1 and close(got, torch.softmax((q @ k.transpose(-2, -1) / d_k ** 0.5).masked_fill(
            ~lower, float("-inf")), dim=-1).transpose(-2, -1) @ v):
        return ("the weights are transposed: row t of softmax(masked Q Kᵀ / √d_k) holds "
                "position t's weights; multiply it by V as it is")
    return None


register(
    CHAPTER,
    Exercise(
        name="self_attention",
        signature="self_attention(x (n, d_model), w_q (d_model, d_k), w_k (d_model, d_k), "
                  "w_v (d_model, d_v)) -> (n, d_v)",
        reference=_self_attention_reference,
        cases=_self_attention_cases,
        diagnoses=[wrong_shape, _self_attention_mistakes],
    ),
    Exercise(
        name="causal_attention",
        signature="causal_attention(q (..., n, d_k), k (..., n, d_k), v (..., n, d_v)) -> "
                  "(..., n, d_v), position t attending to positions 0 … t only",
        reference=_causal_attention_reference,
        cases=_causal_cases,
        diagnoses=[wrong_shape, _causal_mistakes],
        nan_hints=[_causal_nan],
        batched_case=True,
    ),
)
