"""Chapter 03's exercises: attention over image regions, a memory network's hop.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...worlds.captioning import GRID
from ...worlds.reading import memory_hop
from .engine import (
    Exercise,
    close,
    generator,
    nan_as_inverted_mask,
    register,
    wrong_shape,
)

CHAPTER = "03_attention_applications"


def _regions_cases() -> Iterator[tuple]:
    # (z, regions, w_q, w_k, v): a decoder state per image, its regions (the captioner's 16 =
    # 4 × 4, or another count) and the additive score's weights. batch, R, hidden, d and a all
    # differ, so summing the wrong tensor or softmaxing the wrong axis shows.
    for seed, (batch, regions, hidden, d, a) in enumerate([(2, GRID * GRID, 5, 6, 4),
                                                           (3, GRID * GRID, 7, 3, 5),
                                                           (1, 4, 3, 8, 6), (2, 9, 4, 2, 3)]):
        g = generator(60 + seed)
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
    if got.shape != expected.shape or close(got, expected):
        return None
    if close(got, regions.mean(dim=1)):
        return ("the output is the plain mean of the regions: uniform weights, what the "
                "captioner *without* attention reads. Score every region against the "
                "decoder state and softmax the scores into α")
    if close(got, regions.sum(dim=1)):
        return ("every region got weight 1: the softmax ran over an axis of size 1 (or was "
                "left out). Softmax the scores over the regions, dim=-1 of (batch, R)")
    scores = _region_scores(z, regions, w_q, w_k, v)
    if close(got, _weighted_regions(scores, regions)):
        return ("the scores eᵢ were used as weights: softmax them first, so that the weights "
                "are ≥ 0 and sum to 1 over the regions")
    if close(got, _weighted_regions(torch.softmax(
            _region_scores(z, regions, w_q, w_k, v, squash=False), dim=-1), regions)):
        return "the tanh is missing: eᵢ = vᵀ tanh(W_q z + W_k rᵢ)"
    if close(got, _weighted_regions(torch.softmax(
            _region_scores(z, regions, w_q, w_k, v, with_v=False), dim=-1), regions)):
        return ("the hidden layer was summed instead of scored by v: eᵢ = vᵀ tanh(W_q z + "
                "W_k rᵢ), a dot product with v")
    if z.shape[0] > 1 and close(got, _weighted_regions(torch.softmax(scores, dim=0),
                                                       regions)):
        return ("the softmax runs over the batch (dim 0), across images: run it over each "
                "image's regions, dim=-1")
    hard = torch.nn.functional.one_hot(scores.argmax(dim=-1), scores.shape[-1]).to(z.dtype)
    if close(got, _weighted_regions(hard, regions)):
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
        g = generator(70 + seed)
        mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        yield (torch.randn(batch, d, generator=g), torch.randn(batch, n, d, generator=g),
               torch.randn(batch, n, d, generator=g), mask)


def _hop_no_residual(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u = args[0]
    if close(got, expected - u):
        return "you returned o alone: the next hop asks with u + o (keep what was asked)"
    return None


def _hop_swapped(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if close(got, memory_hop(u, values, keys, mask)[0]):
        return ("keys and values are swapped: match u against the keys mᵢ, then sum the "
                "values cᵢ")
    return None


def _hop_mask(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if mask.all():
        return None
    if close(got, memory_hop(u, keys, values, None)[0]):
        return ("padding sentences get weight: give them a score of -inf before the softmax "
                "(mask True = a real sentence)")
    return _hop_mask_inverted(args, got, expected)


def _hop_mask_inverted(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if nan_as_inverted_mask(mask, got) or close(got, memory_hop(u, keys, values, ~mask)[0]):
        return "the mask is the wrong way round: True = a real sentence that may be attended"
    return None


def _hop_with(u: Tensor, keys: Tensor, values: Tensor, p: Tensor) -> Tensor:
    """u + Σᵢ pᵢ cᵢ for given weights p (batch, n)."""
    return u + (p.unsqueeze(1) @ values).squeeze(1)


def _hop_weights_wrong(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    scores = (keys @ u.unsqueeze(-1)).squeeze(-1)  # (batch, n)
    if (~mask).any():
        if close(got, _hop_with(u, keys, values, torch.softmax(scores.masked_fill(~mask, 0.0),
                                                               dim=-1))):
            return ("padding got a score of 0, and exp(0) = 1 still gives it weight: fill it "
                    "with float('-inf') before the softmax")
        if close(got, _hop_with(u, keys, values, torch.softmax(scores, dim=-1) * mask)):
            return ("zeroing the padding *after* the softmax leaves the real sentences' "
                    "weights summing to less than 1: mask the scores *before* the softmax")
    if u.shape[0] > 1 and close(got, _hop_with(u, keys, values, torch.softmax(
            scores.masked_fill(~mask, float("-inf")), dim=0).nan_to_num())):
        return "the softmax runs over the batch (dim 0): run it over the sentences, dim=-1"
    return None


def _hop_scaled(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    u, keys, values, mask = args
    if u.shape[-1] > 1 and close(got, memory_hop(u / u.shape[-1] ** 0.5, keys, values,
                                                 mask)[0] + u * (1 - u.shape[-1] ** -0.5)):
        return "a memory network matches with the plain dot product uᵀmᵢ, not divided by √d"
    return None


register(
    CHAPTER,
    Exercise(
        name="attend_to_regions",
        signature="attend_to_regions(z (batch, hidden), regions (batch, R, d), "
                  "w_q (hidden, a), w_k (d, a), v (a,)) -> context (batch, d)",
        reference=_regions_reference,
        cases=_regions_cases,
        diagnoses=[_regions_shape, wrong_shape, _regions_mistakes],
        shape_hints=[_regions_shape_hints],
        error_hints=[
            ("must match the size", "W_q z is one vector per image, (batch, a), and W_k rᵢ one per "
                                    "region, (batch, R, a): give the first a region axis, "
                                    "(z @ w_q).unsqueeze(1), so that it is added to every region"),
            ("cannot be multiplied", "z (batch, hidden) goes with w_q (hidden, a) and the regions "
                                     "(batch, R, d) with w_k (d, a): z @ w_q and regions @ w_k"),
        ],
    ),
    Exercise(
        name="memory_hop",
        signature="memory_hop(u (batch, d), keys (batch, n, d), values (batch, n, d), "
                  "mask (batch, n)) -> u_next (batch, d)",
        reference=lambda u, k, v, m: memory_hop(u, k, v, m)[0],
        cases=_hop_cases,
        diagnoses=[wrong_shape, _hop_mask_inverted, _hop_no_residual, _hop_swapped,
                   _hop_mask, _hop_weights_wrong, _hop_scaled],
        nan_hints=[_hop_mask_inverted],
    ),
)
