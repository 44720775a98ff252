"""Chapter 10's exercises: shifting the target right, attending with a key/value cache.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .engine import (
    Exercise,
    close,
    generator,
    register,
    wrong_shape,
)

CHAPTER = "10_transformer"


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
        g = generator(170 + seed)
        yield (torch.randn(*lead, 1, d, generator=g), torch.randn(*lead, 1, d, generator=g),
               torch.randn(*lead, 1, d_v, generator=g), torch.randn(*lead, t, d, generator=g),
               torch.randn(*lead, t, d_v, generator=g))


def _cache_reference(q_t, k_t, v_t, k_cache, v_cache) -> Tensor:
    keys, values = torch.cat([k_cache, k_t], dim=-2), torch.cat([v_cache, v_t], dim=-2)
    return torch.softmax(q_t @ keys.transpose(-2, -1) / keys.shape[-1] ** 0.5, dim=-1) @ values


def _cache_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    q_t, k_t, v_t, k_cache, v_cache = args
    if got.shape != expected.shape or close(got, expected):
        return None
    d = q_t.shape[-1]

    def attend(keys, values, scale):
        return torch.softmax(q_t @ keys.transpose(-2, -1) / scale, dim=-1) @ values

    if close(got, attend(k_cache, v_cache, d ** 0.5)):
        return ("only the cache was attended to: position t also attends to itself — "
                "append k_t and v_t to the cache first (torch.cat along dim=-2)")
    if close(got, v_t):
        return ("the output is v_t: the new position attended only to itself; the cache holds "
                "the keys and values of every earlier position")
    keys, values = torch.cat([k_cache, k_t], dim=-2), torch.cat([v_cache, v_t], dim=-2)
    if close(got, attend(keys, values, 1.0)):
        return "the scores are not scaled: divide q·k by √d (d = the keys' size)"
    if close(got, attend(keys, values, float(d))):
        return "the scores were divided by d; scaled dot-product attention divides by √d"
    d_v = v_t.shape[-1]
    if d_v != d and close(got, attend(keys, values, d_v ** 0.5)):
        return "the scores were divided by √d_v; divide by √d, the size of the queries and keys"
    if close(got, attend(keys, values, keys.shape[-2] ** 0.5)):
        return ("the scores were divided by √(t + 1), the number of keys; divide by √d, the size "
                "of the queries and keys")
    if close(got, v_cache[..., :1, :]):
        return ("the output is the first cached value: a causal mask built for one query (e.g. "
                "is_causal=True) lets it see only key 0. No mask is needed here — nothing in "
                "the cache is in the future")
    if close(got, values.sum(dim=-2, keepdim=True)):
        return ("every weight is 1: the softmax went over the wrong axis — normalise the "
                "scores (..., 1, t + 1) over the keys, dim=-1")
    return None


register(
    CHAPTER,
    Exercise(
        name="shift_right",
        signature="shift_right(target_out (batch, m) ids, bos_id: int) -> (batch, m) ids",
        reference=_shift_reference,
        cases=_shift_cases,
        diagnoses=[_shift_mistakes, wrong_shape],
        keeps_inputs=True,
    ),
    Exercise(
        name="attend_with_cache",
        signature="attend_with_cache(q_t (..., 1, d), k_t (..., 1, d), v_t (..., 1, d_v), "
                  "k_cache (..., t, d), v_cache (..., t, d_v)) -> (..., 1, d_v)",
        reference=_cache_reference,
        cases=_cache_cases,
        diagnoses=[wrong_shape, _cache_mistakes],
        keeps_inputs=True,
    ),
)
