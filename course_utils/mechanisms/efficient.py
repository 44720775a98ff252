"""Exact attention without the n × n matrix: chunks and an online softmax (chapter 09).

Naive attention materialises the scores S = QKᵀ/√d, ``(..., n_q, n_k)``: memory that grows
with the square of the sequence length — the notes' "large memory requirements". The same
output can be computed **exactly** one block of keys at a time, if the softmax is kept as a
running result: for every query, the running maximum m of the scores seen so far, the running
sum ℓ = Σ exp(s − m) and the running weighted sum of values a = Σ exp(s − m) v. A new block of
scores s' updates them as

    m' = max(m, max s'),  ℓ' = ℓ·exp(m − m') + Σ exp(s' − m'),  a' = a·exp(m − m') + exp(s' − m') V'

and at the end the output is a / ℓ. Subtracting the running maximum keeps every exponent ≤ 0,
so nothing overflows however large the scores (the idea behind FlashAttention; Milakov &
Gimelshein 2018, Dao et al. 2022). Peak memory: one ``(chunk, chunk)`` block of scores per
batch × head instead of ``(n_q, n_k)``.

Conventions as in :mod:`course_utils.mechanisms.attention`: batch first, a boolean mask is
**True = may attend**, broadcastable to ``(..., n_q, n_k)``; a query with nothing to attend to
gets zeros.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..foundations.checks import (
    attention_mask,
    float_tensor,
    positive_index,
    same_batch,
    same_dtype,
)

__all__ = ["OnlineSoftmax", "chunked_attention", "naive_attention", "peak_tensor_memory",
           "saved_for_backward", "count_operations"]


class OnlineSoftmax:
    """The running state of softmax-weighted sums for a block of queries.

    ``max`` m ``(..., n_q, 1)``, ``total`` ℓ ``(..., n_q, 1)`` and ``weighted`` a
    ``(..., n_q, d_v)``, as in the module's docstring. :meth:`update` folds in one block of
    scores and values; :meth:`result` is a / ℓ (zeros where no key was allowed).
    """

    def __init__(self, n_q_shape: torch.Size, d_v: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.max = torch.full((*n_q_shape, 1), float("-inf"), dtype=dtype, device=device)
        self.total = torch.zeros((*n_q_shape, 1), dtype=dtype, device=device)
        self.weighted = torch.zeros((*n_q_shape, d_v), dtype=dtype, device=device)

    def update(self, scores: Tensor, values: Tensor) -> None:
        """Fold in ``scores (..., n_q, c)`` (−inf where masked) and ``values (..., c, d_v)``."""
        new_max = torch.maximum(self.max, scores.amax(dim=-1, keepdim=True))  # m'
        # A row that has seen only −inf keeps −inf; use 0 there so that no exp(−inf + inf).
        safe = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
        rescale = torch.exp(self.max - safe)  # exp(m − m'), ≤ 1
        p = (scores - safe).exp_()  # exp(s' − m'), ≤ 1; 0 where masked (one block in memory)
        self.total = self.total * rescale + p.sum(dim=-1, keepdim=True)  # ℓ'
        self.weighted = self.weighted * rescale + p @ values  # a'
        self.max = new_max

    def result(self) -> Tensor:
        """a / ℓ ``(..., n_q, d_v)``; zeros for a query that had no allowed key."""
        empty = self.total == 0
        return torch.where(empty, torch.zeros_like(self.weighted),
                           self.weighted / torch.where(empty, torch.ones_like(self.total),
                                                       self.total))


def _mask_block(mask: Tensor, rows: slice, cols: slice) -> Tensor:
    """The part of a broadcastable mask that covers one block of queries × keys."""
    if mask.dim() == 1:
        return mask[cols] if mask.shape[0] > 1 else mask
    return mask[..., rows if mask.shape[-2] > 1 else slice(None),
                cols if mask.shape[-1] > 1 else slice(None)]


def chunked_attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                      chunk_size: int = 1024) -> Tensor:
    """softmax(QKᵀ / √d) V, exactly, computed in ``chunk_size`` blocks of queries × keys.

    Args:
        query: ``(..., n_q, d)``; key: ``(..., n_k, d)``; value: ``(..., n_k, d_v)``, with the
            same leading (batch, head) dimensions and dtype.
        mask: optional **bool** tensor, broadcastable to ``(..., n_q, n_k)``; True = may
            attend (an additive float mask is not accepted).
        chunk_size: the block size for queries and keys; the score blocks held at once are
            ``(..., chunk_size, chunk_size)`` (two or three: the scores, their exponentials
            and, with a mask, a masked copy).

    Returns:
        ``(..., n_q, d_v)`` in the input dtype, equal to
        :func:`torch.nn.functional.scaled_dot_product_attention` up to rounding (zeros for a
        query whose mask row is all False). float16/bfloat16 inputs are accumulated in
        float32.
    """
    chunk_size = _check_chunked(query, key, value, mask, chunk_size)
    n_q, n_k = query.shape[-2], key.shape[-2]
    if n_q == 0:
        return value.new_zeros((*query.shape[:-1], value.shape[-1]))
    scale = 1 / math.sqrt(query.shape[-1])
    # half precision keeps its running sums in float32, as FlashAttention does
    work = torch.float32 if query.dtype in (torch.float16, torch.bfloat16) else query.dtype
    blocks = []
    for q0 in range(0, n_q, chunk_size):
        q = query[..., q0:q0 + chunk_size, :].to(work) * scale
        state = OnlineSoftmax(q.shape[:-1], value.shape[-1], work, query.device)
        for k0 in range(0, n_k, chunk_size):
            scores = q @ key[..., k0:k0 + chunk_size, :].to(work).transpose(-2, -1)  # (..., cq, ck)
            if mask is not None:
                allowed = _mask_block(mask, slice(q0, q0 + chunk_size),
                                      slice(k0, k0 + chunk_size))
                scores = scores.masked_fill(~allowed, float("-inf"))
            state.update(scores, value[..., k0:k0 + chunk_size, :].to(work))
        blocks.append(state.result().to(query.dtype))
    return torch.cat(blocks, dim=-2)


def _check_chunked(query: object, key: object, value: object, mask: object,
                   chunk_size: object) -> int:
    """The arguments of :func:`chunked_attention`, checked in order; returns the chunk size
    as an int (it may be e.g. a NumPy integer)."""
    float_tensor("query", query, 2, "(..., n_q, d)")
    float_tensor("key", key, 2, "(..., n_k, d)")
    float_tensor("value", value, 2, "(..., n_k, d_v)")
    same_dtype(query=query, key=key, value=value)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query and key must have the same last dimension d; got query "
                         f"{tuple(query.shape)} and key {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same number of rows n_k; got key "
                         f"{tuple(key.shape)} and value {tuple(value.shape)}")
    same_batch("query", query, "key", key, tail=2)
    same_batch("key", key, "value", value, tail=2)
    size = positive_index("chunk_size", chunk_size)
    if mask is not None and query.shape[-2] > 0:  # against the score shape, without building it
        attention_mask(mask, torch.empty((*query.shape[:-1], key.shape[-2]), device="meta"))
    return size


def naive_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """softmax(QKᵀ / √d) V the direct way, materialising the ``(..., n_q, n_k)`` scores and
    weights: the baseline whose memory grows as n². Shapes as in :func:`chunked_attention`."""
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (..., n_q, n_k)
    return torch.softmax(scores, dim=-1) @ value  # (..., n_q, d_v)


class _TensorMemory(TorchDispatchMode):
    """Counts the bytes of the tensors that PyTorch operations create, as they are created
    and freed, and keeps the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        # An output on an input's storage (a view, an in-place result) allocates nothing.
        inputs = {t.untyped_storage().data_ptr()
                  for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor) and not t.is_meta \
                    and t.untyped_storage().data_ptr() not in inputs:
                nbytes = t.untyped_storage().nbytes()
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, nbytes)
        return out


def peak_tensor_memory(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)`` without gradients and return ``(result, peak bytes)``: the
    most bytes that the tensors created during the call held at any one time.

    A **tensor-byte count**: the storage of every tensor that a PyTorch operation returns
    (seen at the Python dispatch layer), added when it is created and removed when it is
    freed. It does not depend on the machine, so a notebook can assert on it. Not counted:
    tensors that existed before the call (the inputs), views and in-place results (they
    allocate nothing), meta tensors, scratch memory inside a kernel (e.g. the blocks of
    PyTorch's fused ``scaled_dot_product_attention``) and the allocator's overhead — a
    process-level measurement sees those (``benchmarks/attention_cost.py``).
    """
    with torch.no_grad(), _TensorMemory() as counter:
        result = fn(*args, **kwargs)
    return result, counter.peak


def saved_for_backward(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)`` and count the bytes autograd keeps for the backward pass.

    Every tensor saved for backward during the call (through
    :func:`torch.autograd.graph.saved_tensors_hooks`) is counted by its storage, each storage
    once (views share one), so the count is exact and the same on every machine. Returns
    ``(fn's result, bytes)``; the graph lives as long as the result does.
    """
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn(*args, **kwargs)
    return result, sum(storages.values())


class _OperationCount(TorchDispatchMode):
    """Counts the PyTorch operations dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.count += 1
        return func(*args, **(kwargs or {}))


def count_operations(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)`` and count the PyTorch operations it dispatches: every
    ``aten`` operation seen at the Python dispatch layer, the backward pass's too when ``fn``
    calls ``backward()``. Returns ``(fn's result, count)``.

    Each operation is one call into a kernel, run one after another: a loop over positions
    adds operations as it grows, a matrix product over all positions adds none, only size.
    The count depends on the code and the shapes alone, not on the machine or its load, so a
    notebook can assert on it where a timing would flip on a busy machine.
    """
    with _OperationCount() as counter:
        result = fn(*args, **kwargs)
    return result, counter.count
