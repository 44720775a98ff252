"""Helpers shared by the numerical tests: seeded tensors and dtype tolerances."""

from __future__ import annotations

import torch


def tol(dtype: torch.dtype, atol32: float = 1e-6) -> dict[str, float]:
    """assert_close tolerances: tight for float64, ``atol32`` for float32."""
    return {"rtol": 1e-5, "atol": atol32} if dtype == torch.float32 else {"rtol": 1e-10,
                                                                          "atol": 1e-12}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Standard normal numbers drawn in float64 (the same values for every dtype)."""
    return torch.randn(*shape, generator=gen(seed), dtype=torch.float64).to(dtype)
