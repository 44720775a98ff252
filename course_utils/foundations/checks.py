"""Argument checks shared by the course's modules (layer 0: torch and the standard library only).

Each check is one line at the top of a function, so that the mechanism below it stays
visible, and each raises at once — before any work — a ``ValueError`` or ``TypeError`` whose
message starts with the argument's name and says what it got and what was expected.

* :func:`positive_int`, :func:`positive_index`, :func:`probability`, :func:`real_number` —
  plain Python arguments;
* :func:`floating_dtype` — a ``dtype=`` argument;
* :func:`float_tensor`, :func:`float_tensor_of_rank`, :func:`float_sequence`,
  :func:`same_dtype`, :func:`same_batch` — tensors' types and shapes;
* :func:`attention_mask` — a boolean mask (True = may attend) that broadcasts to the scores;
* :func:`values_in` — the *values* of a tensor (e.g. a gate in [0, 1]). It reads them once
  per call (one reduction: min, or min and max) on a detached view, so autograd records
  nothing; it is skipped while ``torch.jit`` traces or ``torch.compile`` compiles, where a
  branch on data cannot be recorded.
"""

from __future__ import annotations

import math
import numbers
import operator

import torch
from torch import Tensor

__all__ = ["positive_int", "real_number", "probability", "floating_dtype", "float_tensor",
           "same_dtype", "values_in", "sums_to_one", "positive_index", "float_tensor_of_rank",
           "float_sequence", "same_batch", "attention_mask"]


# --------------------------------------------------------------------------- Python values
def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int ≥ 1 (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def positive_index(name: str, value: object) -> int:
    """``value`` as an int if it is an integer ≥ 1 — a Python int or anything with
    ``__index__``, such as a NumPy integer; not a bool, not a float — else ``ValueError``
    naming ``name``."""
    try:
        size = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        size = None
    if size is None or size < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return size


def real_number(name: str, value: object) -> numbers.Real:
    """``value`` if it is a real number (int, float, NumPy scalar; not a bool or a tensor),
    else ``TypeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return value


def probability(name: str, value: object) -> numbers.Real:
    """``value`` if it is a real number in [0, 1] (e.g. a dropout rate), else ``TypeError``
    (not a number) or ``ValueError`` (outside [0, 1], or NaN) naming ``name``."""
    real_number(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value


def floating_dtype(name: str, dtype: object) -> torch.dtype:
    """``dtype`` if it is a floating-point ``torch.dtype``, else ``TypeError`` naming ``name``
    (an integer or bool dtype would round the values, a complex one is not what is meant)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point torch.dtype (e.g. torch.float32 or "
                        f"torch.float64), got {dtype!r}")
    return dtype


# --------------------------------------------------------------------------- tensors
def float_tensor(name: str, x: object, min_dim: int, expected: str) -> Tensor:
    """``x`` if it is a floating-point tensor with at least ``min_dim`` dimensions; else
    ``TypeError``/``ValueError`` naming ``name``, its shape and the ``expected`` one."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimensions, shape {expected}; "
            f"got shape {tuple(x.shape)}"
        )
    return x


def float_tensor_of_rank(name: str, x: object, dims: int, expected: str) -> Tensor:
    """``x`` if it is a floating-point tensor with exactly ``dims`` dimensions; else
    ``TypeError`` (as :func:`float_tensor`) or ``ValueError`` naming ``name``, the
    ``expected`` shape and the one it got."""
    if float_tensor(name, x, 0, expected).dim() != dims:
        raise ValueError(f"{name} must have shape {expected}; got {tuple(x.shape)}")
    return x


def float_sequence(name: str, x: object, width: int, n: str) -> Tensor:
    """``x`` if it is a floating-point tensor of shape ``(batch, n, width)`` (a sequence of
    ``width``-wide tokens; ``n`` names its length in the message); else ``TypeError`` (as
    :func:`float_tensor`) or ``ValueError`` naming ``name``, the expected and the given shape."""
    x = float_tensor(name, x, 3, f"(batch, {n}, {width})")
    if x.dim() != 3 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape (batch, {n}, {width}); got {tuple(x.shape)}")
    return x


def same_batch(name_a: str, a: Tensor, name_b: str, b: Tensor, tail: int) -> None:
    """``ValueError`` naming both tensors and their shapes unless they share their leading
    (batch) dimensions: all but the last ``tail``."""
    if a.shape[:-tail] != b.shape[:-tail]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same leading (batch) dimensions; got "
            f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}"
        )


def attention_mask(mask: object, scores: Tensor) -> Tensor:
    """``mask`` if it is a boolean tensor (True = may attend) that broadcasts to the shape of
    ``scores`` ``(..., n_q, n_k)`` (a meta tensor of that shape will do); else ``TypeError``
    (not a boolean tensor) or ``ValueError`` (does not broadcast) naming both shapes."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a boolean tensor (True = may attend), got {got}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        shape = None
    if shape != scores.shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
            f"{tuple(scores.shape)} (..., n_q, n_k)"
        )
    return mask


def same_dtype(**tensors: Tensor) -> None:
    """``TypeError`` listing every tensor's name and dtype unless they all share one."""
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} {d}" for n, d in dtypes.items())
        raise TypeError(f"tensors must share one dtype, got {listed}")


def _interval(low: float, high: float) -> str:
    return f"[{low:g}, {high:g}" + (")" if math.isinf(high) else "]")


def values_in(name: str, x: Tensor, low: float, high: float = math.inf,
              meaning: str = "") -> Tensor:
    """``x`` if every entry lies in [low, high] (NaN does not); else ``ValueError`` naming
    ``name``, the interval, what it means, and the first offending entry and where it is
    (``x`` is ``(batch, …)``: batch element, then column).

    For the values that a network produces every step (a gate, a strength, a shift): one
    reduction (min, or min and max) read without autograd; skipped under tracing/compiling.
    """
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or x.numel() == 0:
        return x
    if high == math.inf:  # one reduction; NaN propagates, and NaN >= low is False
        inside = x.detach().min().item() >= low
    else:
        smallest, largest = torch.aminmax(x.detach())
        inside = smallest.item() >= low and largest.item() <= high
    if not inside:
        _out_of_range(name, x, low, high, meaning)
    return x


def sums_to_one(name: str, x: Tensor, meaning: str = "", tolerance: float = 1e-4) -> Tensor:
    """``x`` if every row (the last axis) sums to 1 within ``tolerance`` (a softmax's rounding
    stays far inside it); else ``ValueError`` naming ``name``, the first row that does not and
    its sum. Skipped under tracing/compiling, like :func:`values_in`."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or x.numel() == 0:
        return x
    error = (x.detach().sum(-1) - 1).abs()
    if not error.max().item() <= tolerance:  # NaN fails too
        row = int(torch.nan_to_num(error, nan=math.inf).argmax())
        total = x.detach().sum(-1).flatten()[row].item()
        raise ValueError(f"{name} must sum to 1 along its last axis ({meaning}); row {row} sums "
                         f"to {total:.6g}")
    return x


def _out_of_range(name: str, x: Tensor, low: float, high: float, meaning: str) -> None:
    x = x.detach()
    where = (~((x >= low) & (x <= high))).nonzero()[0].tolist()  # the first entry outside
    place = f"batch element {where[0]}" + "".join(
        f", column {i}" for i, size in zip(where[1:], x.shape[1:], strict=True) if size > 1)
    raise ValueError(f"{name} must be in {_interval(low, high)}"
                     f"{f' ({meaning})' if meaning else ''}; got {x[tuple(where)].item():g} "
                     f"(at {place})")
