"""Positional encoding (位置编码): give attention, which sees a *set*, the order of the tokens.

The notes: "Just remember: **even columns use sin, odd columns use cos**."

    PE[pos, 2i]     = sin(pos / base^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))

Column pair (2i, 2i + 1) is a point on a circle turning at angular speed ωᵢ = base^(−2i/d_model):
fast in the first columns, slower and slower in the later ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..foundations.checks import floating_dtype, positive_int, real_number

__all__ = ["sinusoidal_encoding", "frequencies", "MAX_TABLE_ENTRIES"]

#: The largest table :func:`sinusoidal_encoding` builds: num_positions × d_model ≤ 2**28
#: entries (it works in float64, so 2 GiB for the table alone). Larger sizes are refused at
#: once instead of after minutes of work and a failed allocation.
MAX_TABLE_ENTRIES = 2**28


def _check_columns(d_model: object, base: object) -> None:
    """d_model a positive even int; base a real number > 0, finite and not 1."""
    positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"d_model must be even (columns come in sin/cos pairs), got {d_model}")
    real_number("base", base)
    if not (0 < base < math.inf and base != 1):
        raise ValueError(f"base must be positive, finite and not 1 (base 1 gives every column "
                         f"pair the same frequency), got {base!r}")


def frequencies(d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
                ) -> Tensor:
    """ωᵢ = base^(−2i / d_model) for i = 0 … d_model/2 − 1: ``(d_model / 2,)``."""
    _check_columns(d_model, base)
    floating_dtype("dtype", dtype)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return (base ** (-two_i / d_model)).to(dtype)


def sinusoidal_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """The sinusoidal encoding: ``(num_positions, d_model)``, row ``pos`` for position
    ``pos`` = 0 … num_positions − 1; even columns sin, odd columns cos.

    An odd ``d_model`` is a ``ValueError`` (the columns come in sin/cos pairs), and so is a
    table of more than :data:`MAX_TABLE_ENTRIES` entries.
    """
    positive_int("num_positions", num_positions)
    _check_columns(d_model, base)
    floating_dtype("dtype", dtype)
    _check_size(num_positions, d_model)
    omega = frequencies(d_model, base, torch.float64)  # (d_model / 2,)
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * omega  # pos · ωᵢ
    pe = torch.empty(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)  # even columns: sin
    pe[:, 1::2] = torch.cos(angles)  # odd columns: cos
    return pe.to(dtype)


def _check_size(num_positions: int, d_model: int) -> None:
    entries = num_positions * d_model
    if entries > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"num_positions × d_model = {num_positions:,} × {d_model:,} = {entries:,} entries "
            f"is more than the {MAX_TABLE_ENTRIES:,} (2**28) that sinusoidal_encoding builds: "
            f"its float64 working copy alone would take {entries * 8 / 2**30:,.1f} GiB")
