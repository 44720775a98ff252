"""Chapter 02's exercises: attention weights over padded sentences, a batch's context.

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
    nan_as_inverted_mask,
    register,
    weights_non_negative,
    weights_sum_to_one,
    wrong_shape,
)

CHAPTER = "02_seq2seq_attention"


def _padded_cases() -> Iterator[tuple]:
    # A decoder state per sentence, the encoder states, and a padding mask (True = a word).
    for seed, (batch, n, d, lengths) in enumerate([(2, 4, 3, [4, 2]), (3, 5, 2, [1, 5, 3]),
                                                   (1, 3, 4, [3])]):
        g = generator(40 + seed)
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
    if nan_as_inverted_mask(mask, got) or close(
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
    if (~mask).any() and close(got, unmasked * mask):
        return ("zeroing the padding *after* the softmax leaves the real words summing to less "
                "than 1: mask the scores *before* the softmax")
    return None


def _padded_unscaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    query, states, mask = args
    d = query.shape[-1]
    if d == 1 or close(got, expected):
        return None
    if close(got, masked_softmax(_padded_scores(query, states), mask)):
        return "the scores are not divided by √d: use (h · z) / √d"
    if close(got, masked_softmax(_padded_scores(query, states) / d, mask)):
        return "the scores are divided by d: divide by √d, (h · z) / √d"
    return None


def _batch_context_cases() -> Iterator[tuple]:
    for seed, (batch, n, d) in enumerate([(2, 4, 3), (3, 1, 2), (1, 5, 4)]):
        g = generator(50 + seed)
        yield (torch.softmax(torch.randn(batch, n, generator=g), dim=-1),
               torch.randn(batch, n, d, generator=g))


def _batch_context_unweighted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    weights, states = args
    if weights.shape[-1] > 1 and close(got, states.sum(dim=1)):
        return "the output is the plain sum of the states: weight each hⁱ by its αᵢ"
    if weights.shape[-1] > 1 and close(got, states.mean(dim=1)):
        return "the output is the plain mean of the states, which ignores α: c = Σᵢ αᵢ hⁱ"
    return None


register(
    CHAPTER,
    Exercise(
        name="padded_attention_weights",
        signature="padded_attention_weights(query (batch, d), states (batch, n, d), "
                  "mask (batch, n)) -> weights (batch, n)",
        reference=_padded_reference,
        cases=_padded_cases,
        diagnoses=[wrong_shape, _padded_mask_inverted, weights_non_negative,
                   _padded_masked_after, _padding_ignored, _padded_wrong_axis,
                   weights_sum_to_one, _padded_unscaled],
        nan_hints=[_padded_mask_inverted],
    ),
    Exercise(
        name="batch_context",
        signature="batch_context(weights (batch, n), states (batch, n, d)) -> (batch, d)",
        reference=lambda w, h: context_vector(w.unsqueeze(1), h).squeeze(1),
        cases=_batch_context_cases,
        diagnoses=[wrong_shape, _batch_context_unweighted],
        error_hints=[(pattern, "weights (batch, n) need a query axis for a batched matrix "
                               "product: (weights.unsqueeze(1) @ states).squeeze(1), or "
                               "(weights[..., None] * states).sum(dim=1)")
                     for pattern in ("cannot be multiplied", "Expected size", "must match")],
    ),
)
