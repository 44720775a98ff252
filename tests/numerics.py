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


def randomised_layer(layer_cls: type, d_model: int, num_heads: int, d_ff: int,
                     dtype: torch.dtype, seed: int = 0, dropout: float = 0.0,
                     **kwargs) -> torch.nn.Module:
    """A ``torch.nn.TransformerEncoderLayer`` or ``TransformerDecoderLayer`` (batch first) in
    eval mode. The biases (zeros at init) and the LayerNorm affine (ones and zeros at init) are
    made random so that copying them is tested too."""
    torch.manual_seed(seed)
    layer = layer_cls(d_model, num_heads, d_ff, dropout=dropout, batch_first=True,
                      **kwargs).to(dtype).eval()
    with torch.no_grad():
        for i, (name, p) in enumerate(layer.named_parameters()):
            if name.endswith("bias"):
                p.copy_(randn(*p.shape, dtype=dtype, seed=seed + 1000 + i) * 0.5)
            elif name.startswith("norm"):  # LayerNorm weight
                p.copy_(1 + randn(*p.shape, dtype=dtype, seed=seed + 1000 + i) * 0.3)
    return layer


def ntm_functions() -> dict:
    """The NTM's addressing, read and write functions with their arguments' names, in order:
    ``{name: (function, [argument names])}``."""
    from course_utils.ntm import (
        circular_shift,
        content_addressing,
        interpolate,
        read,
        sharpen,
        write,
    )

    return {"content_addressing": (content_addressing, ["memory", "key", "beta"]),
            "interpolate": (interpolate, ["w_content", "w_prev", "g"]),
            "circular_shift": (circular_shift, ["w", "shift"]),
            "sharpen": (sharpen, ["w", "gamma"]),
            "read": (read, ["memory", "w"]),
            "write": (write, ["memory", "w", "erase", "add"])}
