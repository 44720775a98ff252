"""Positional encoding (位置编码): give attention, which sees a *set*, the order of the tokens.

The notes: "Just remember: **even columns use sin, odd columns use cos**."

    PE[pos, 2i]     = sin(pos / base^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))

Column pair (2i, 2i + 1) is a point on a circle turning at angular speed ωᵢ = base^(−2i/d_model):
fast in the first columns, slower and slower in the later ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sinusoidal_encoding", "frequencies"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def frequencies(d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
                ) -> Tensor:
    """ωᵢ = base^(−2i / d_model) for i = 0 … d_model/2 − 1: ``(d_model / 2,)``."""
    _positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"d_model must be even (columns come in sin/cos pairs), got {d_model}")
    if not base > 0:
        raise ValueError(f"base must be positive, got {base!r}")
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return (base ** (-two_i / d_model)).to(dtype)


def sinusoidal_encoding(num_positions: int, d_model: int, base: float = 10000.0,
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """The sinusoidal encoding: ``(num_positions, d_model)``, row ``pos`` for position
    ``pos`` = 0 … num_positions − 1; even columns sin, odd columns cos.

    An odd ``d_model`` is a ``ValueError`` (the columns come in sin/cos pairs).
    """
    _positive_int("num_positions", num_positions)
    omega = frequencies(d_model, base, torch.float64)  # (d_model / 2,)
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * omega  # pos · ωᵢ
    pe = torch.empty(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)  # even columns: sin
    pe[:, 1::2] = torch.cos(angles)  # odd columns: cos
    return pe.to(dtype)
