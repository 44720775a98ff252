"""Chapter 08's exercises: the NTM's sharpening and its erase-then-add write.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...mechanisms.ntm import sharpen, write
from .engine import (
    Exercise,
    close,
    generator,
    non_finite_within,
    register,
    weights_non_negative,
    wrong_shape,
)

CHAPTER = "08_neural_turing_machines"


def _sharpen_cases() -> Iterator[tuple]:
    for seed, (batch, n, gammas) in enumerate([(2, 5, [1.0, 3.0]), (3, 4, [2.0, 1.0, 10.0]),
                                               (2, 6, [200.0, 50.0])]):
        g = generator(130 + seed)
        w = torch.softmax(torch.randn(batch, n, generator=g), dim=-1)
        yield w, torch.tensor(gammas)[:, None]


def _sharpen_underflow(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    w, gamma = args
    if non_finite_within(got, w ** gamma / (w ** gamma).sum(dim=-1, keepdim=True)):
        return (f"the output has NaN: with γ = {gamma.max().item():.0f} every wᵢ^γ of a row "
                "underflows to 0 in float32 (0.3^200 ≈ 1e-105 < 1e-45), and 0 / 0 = NaN. "
                "Work in log space: wᵢ^γ = exp(γ · log wᵢ), so the weighting is "
                "softmax(γ · log w), which subtracts the largest exponent for you")
    return None


def _sharpen_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    w, gamma = args
    if got.shape != expected.shape or close(got, expected):
        return None
    if close(got, w ** gamma):
        return "the powers are not renormalised: divide by Σⱼ wⱼ^γ so the weighting sums to 1"
    if close(got, torch.softmax(w * gamma, dim=-1)):
        return "that is softmax(γ w), not wᵢ^γ / Σⱼ wⱼ^γ: raise each weight to the power γ"
    if close(got, (w ** gamma) / (w ** gamma).sum(dim=0, keepdim=True)):
        return "the sum runs over the batch (dim 0): normalise each row, dim=-1"
    if close(got, torch.softmax(gamma * w.log(), dim=0)):
        return "the softmax runs over the batch (dim 0): normalise each row, dim=-1"
    return None


def _write_cases() -> Iterator[tuple]:
    for seed, (batch, n, m) in enumerate([(2, 4, 3), (1, 5, 2)]):
        g = generator(140 + seed)
        yield (torch.randn(batch, n, m, generator=g),
               torch.softmax(2 * torch.randn(batch, n, generator=g), dim=-1),
               torch.rand(batch, m, generator=g), torch.randn(batch, m, generator=g))


def _write_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    memory, w, erase, add = args
    if got.shape != expected.shape or close(got, expected):
        return None
    wide = w.unsqueeze(-1)
    if close(got, memory * (1 - erase.unsqueeze(1)) + wide * add.unsqueeze(1)):
        return ("the erase ignores the weighting: a row is erased only as much as it is "
                "attended, M ⊙ (1 − w eᵀ)")
    if close(got, (memory + wide * add.unsqueeze(1)) * (1 - wide * erase.unsqueeze(1))):
        return "add came before erase: erase first, then add (eq. 3, then eq. 4)"
    if close(got, memory * (1 - wide * erase.unsqueeze(1))):
        return "the add step is missing: + w aᵀ"
    if close(got, memory + wide * add.unsqueeze(1)):
        return "the erase step is missing: M ⊙ (1 − w eᵀ) before adding"
    if close(got, memory * (1 - wide * erase.unsqueeze(1)) + add.unsqueeze(1)):
        return ("the add is not weighted: every row received all of a; row i receives wᵢ a, "
                "+ w aᵀ")
    if close(got, memory - wide * erase.unsqueeze(1) + wide * add.unsqueeze(1)):
        return ("the erase subtracts w eᵀ; it multiplies: M ⊙ (1 − w eᵀ), so a row attended "
                "fully with e = 1 becomes 0 whatever it held")
    return None


register(
    CHAPTER,
    Exercise(
        name="sharpen",
        signature="sharpen(w (batch, N), gamma (batch, 1)) -> (batch, N)",
        reference=sharpen,
        cases=_sharpen_cases,
        diagnoses=[wrong_shape, weights_non_negative, _sharpen_mistakes],
        nan_hints=[_sharpen_underflow],
        atol=1e-5,
        error_hints=[("must match the size", "keep the summed axis so that the division broadcasts "
                                             "row by row: .sum(dim=-1, keepdim=True); gamma is "
                                             "(batch, 1) already")],
    ),
    Exercise(
        name="erase_then_add",
        signature="erase_then_add(memory (batch, N, M), w (batch, N), erase (batch, M), "
                  "add (batch, M)) -> (batch, N, M)",
        reference=write,
        cases=_write_cases,
        diagnoses=[wrong_shape, _write_mistakes],
        keeps_inputs=True,
        error_hints=[(pattern, "give w an axis for the width and e, a an axis for the rows: "
                               "w.unsqueeze(-1) is (batch, N, 1), erase.unsqueeze(1) is "
                               "(batch, 1, M); their product is (batch, N, M)")
                     for pattern in ("must match the size", "cannot be multiplied")],
    ),
)
