"""Chapter 09's exercises: merging partial softmaxes, an online log-sum-exp.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...mechanisms.efficient import OnlineSoftmax
from .engine import (
    Exercise,
    close,
    generator,
    non_finite_within,
    register,
    wrong_shape,
)

CHAPTER = "09_the_cost_of_attention"


def _partials_cases() -> Iterator[tuple]:
    # two halves of the keys, each summarised by its (max, sum, weighted sum); the last case
    # has a first half whose keys are all masked (m = −inf, ℓ = 0, a = 0)
    for seed, (batch, n_q, n_k, d_v, scale, masked) in enumerate(
            [(2, 3, 8, 4, 1.0, False), (1, 4, 10, 2, 30.0, False), (2, 2, 6, 3, 1.0, True)]):
        g = generator(150 + seed)
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
    if non_finite_within(got, m1):  # NaN or inf only on the rows whose first half is masked
        return ("the output has NaN or inf: in this case the first half's keys are all "
                "masked (m₁ = −inf, ℓ₁ = 0, a₁ = 0); with the common maximum m = max(m₁, m₂), "
                "exp(m₁ − m) = 0, which is what you want — divide only by the combined ℓ")
    m = torch.maximum(m1, m2)
    up1, up2, raw1, raw2 = torch.exp(m - m1), torch.exp(m - m2), torch.exp(m1), torch.exp(m2)
    if non_finite_within(got, (a1 * up1 + a2 * up2) / (l1 * up1 + l2 * up2),
                         (a1 * raw1 + a2 * raw2) / (l1 * raw1 + l2 * raw2)):
        return ("the output has NaN or inf: rescale each half by exp(mᵢ − m) with m the larger "
                "maximum, so that every factor is ≤ 1")
    return None


def _merge_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    m1, l1, a1, m2, l2, a2 = args
    if got.shape != expected.shape or close(got, expected):
        return None
    m = torch.maximum(m1, m2)
    r1, r2 = torch.exp(m1 - m), torch.exp(m2 - m)
    if close(got, a1 * r1 + a2 * r2):
        return "a is not yet the output: divide the merged a by the merged ℓ"
    if close(got, (a1 * r1 + a2 * r2) / (l1 + l2)):
        return "a was rescaled but ℓ was not: ℓ₁ and ℓ₂ need the same factors exp(mᵢ − m)"
    up1, up2 = torch.exp(m - m1), torch.exp(m - m2)
    if close(got, (a1 * up1 + a2 * up2) / (l1 * up1 + l2 * up2)):
        return ("the rescale factors are upside down: a half computed with maximum mᵢ is "
                "brought to the larger m by exp(mᵢ − m) ≤ 1, not exp(m − mᵢ)")
    low = torch.minimum(m1, m2)
    d1, d2 = torch.exp(m1 - low), torch.exp(m2 - low)
    if close(got, (a1 * d1 + a2 * d2) / (l1 * d1 + l2 * d2)):
        return "use the larger maximum, torch.maximum(m1, m2), so that every factor is ≤ 1"
    if close(got, (a1 + a2) / (l1 + l2)):
        return ("the halves were added without rescaling: each was computed with its own "
                "maximum, so bring both to m = max(m₁, m₂) first — multiply ℓ₁ and a₁ by "
                "exp(m₁ − m), ℓ₂ and a₂ by exp(m₂ − m)")
    if close(got, (a1 / l1 + a2 / l2) / 2):
        return ("averaging the two halves' outputs weighs them equally; each half counts by its "
                "share of the softmax mass, ℓᵢ · exp(mᵢ − m)")
    return None


def _logsumexp_cases() -> Iterator[tuple]:
    for seed, (shape, scale, chunk) in enumerate([((2, 10), 1.0, 3), ((3, 7), 5.0, 7),
                                                  ((2, 2, 13), 2000.0, 4), ((1, 9), 1.0, 1),
                                                  ((2, 8), 1.0, 3)]):
        scores = torch.randn(*shape, generator=generator(160 + seed)) * scale
        yield (scores - 3000 if seed == 4 else scores), chunk  # the last: all far below 0


def _logsumexp_reference(scores: Tensor, chunk: int) -> Tensor:
    return torch.logsumexp(scores, dim=-1, keepdim=True)


def _logsumexp_not_finite(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    scores, chunk = args
    naive = scores.exp().sum(dim=-1, keepdim=True).log()  # −inf: all underflow; inf: overflow
    if (scores < -1000).all() and non_finite_within(got, naive):
        return ("the output is −inf or NaN: these scores are all near −3000, and exp(s − m) "
                "underflows to 0 unless m is their own maximum — start the running maximum "
                "at −inf (the first block then sets it), not at 0")
    # a factor exp(m_new − m_old) or a start exp(m − (−inf)) gives inf · 0 = NaN on every row
    if scores.abs().max() < 100 and not torch.isfinite(got).any():
        return ("the output is inf or NaN although these scores are small: check the "
                "rescale factor exp(m_old − m_new), which must be ≤ 1, and the start "
                "m = −inf (exp(−inf − m) = 0, but exp(m − (−inf)) = inf)")
    if non_finite_within(got, naive):
        return ("the output is inf or NaN: these scores reach the thousands and exp(2000) "
                "overflows. Keep a running maximum m and sum exp(s − m) instead; the answer is "
                "m + log(sum)")
    return None


def _logsumexp_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    scores, chunk = args
    if got.shape != expected.shape or close(got, expected):
        return None
    blocks = scores.split(chunk, dim=-1)
    maxima = [b.amax(dim=-1, keepdim=True) for b in blocks]
    unscaled = sum(torch.exp(b - m).sum(dim=-1, keepdim=True)
                   for b, m in zip(blocks, maxima, strict=True))
    if close(got, maxima[-1] + torch.log(unscaled)) or close(
            got, torch.stack(maxima).amax(0) + torch.log(unscaled)):
        return ("each block's sum was taken with its own maximum and the sums were added as "
                "they were: when the maximum grows from m to m', multiply the running sum by "
                "exp(m − m') before adding the new block")
    if close(got, blocks[-1].logsumexp(dim=-1, keepdim=True)):
        return "only the last block counts: the running sum must carry over from block to block"
    if close(got, expected - scores.amax(dim=-1, keepdim=True)):
        return "the running maximum was not added back: log Σ exp(s) = m + log Σ exp(s − m)"
    return None


register(
    CHAPTER,
    Exercise(
        name="merge_partials",
        signature="merge_partials(m1, l1, a1, m2, l2, a2) -> (..., n_q, d_v), with m, l "
                  "(..., n_q, 1) and a (..., n_q, d_v)",
        reference=_merge_reference,
        cases=_partials_cases,
        diagnoses=[wrong_shape, _merge_mistakes],
        nan_hints=[_merge_not_finite],
    ),
    Exercise(
        name="online_logsumexp",
        signature="online_logsumexp(scores (..., n), chunk: int) -> (..., 1)",
        reference=_logsumexp_reference,
        cases=_logsumexp_cases,
        diagnoses=[_logsumexp_mistakes, wrong_shape],
        nan_hints=[_logsumexp_not_finite],
        atol=1e-3,
    ),
)
