"""Chapter 06's exercises: the sinusoidal positional encoding and its offset matrix.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ...mechanisms.positional import frequencies, sinusoidal_encoding
from .engine import (
    Exercise,
    close,
    register,
    wrong_shape,
)

CHAPTER = "06_positional_encoding"


def _pe_cases() -> Iterator[tuple]:
    yield from ((n, d) for n, d in ((6, 4), (10, 8), (3, 2)))


def _pe_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    n, d = args
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    if got.shape != expected.shape or close(got, expected):
        return None
    swapped = expected.clone()
    swapped[:, 0::2], swapped[:, 1::2] = expected[:, 1::2], expected[:, 0::2]
    if close(got, swapped):
        return "sin and cos are swapped: even columns (0, 2, …) use sin, odd columns use cos"
    by_column = 10000 ** (-torch.arange(d, dtype=torch.float64) / d)  # j / d for every column
    odd_wrong = expected.clone().double()
    odd_wrong[:, 1::2] = torch.cos(pos * by_column[1::2])
    if close(got, odd_wrong):
        return ("the odd columns use their own index j in the exponent: column 2i + 1 shares "
                "the frequency of column 2i, 10000^(−2i/d_model)")
    half = expected.clone().double()
    omega = 10000 ** (-torch.arange(d // 2, dtype=torch.float64) / d)  # i/d instead of 2i/d
    half[:, 0::2], half[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    if close(got, half):
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
    if got.shape != expected.shape or close(got, expected):
        return None
    if close(got, expected.T):
        return (f"this matrix turns the other way: it maps PE[p] to PE[p − {k}]; put +sin above "
                "the diagonal of each block and −sin below")
    pe = sinusoidal_encoding(k + 4, d, dtype=torch.float64)
    if not close(pe[k:] @ got.T, pe[k:] @ expected.T):
        return f"M_k PE[p] should equal PE[p + {k}]; check it on sinusoidal_encoding rows"
    return None


register(
    CHAPTER,
    Exercise(
        name="positional_encoding",
        signature="positional_encoding(num_positions, d_model) -> (num_positions, d_model)",
        reference=lambda n, d: sinusoidal_encoding(n, d, dtype=torch.float64),
        cases=_pe_cases,
        diagnoses=[wrong_shape, _pe_mistakes],
    ),
    Exercise(
        name="offset_matrix",
        signature="offset_matrix(k, d_model) -> (d_model, d_model)",
        reference=_offset_reference,
        cases=_offset_cases,
        diagnoses=[wrong_shape, _offset_mistakes],
    ),
)
