"""Chapter 05's exercise: multi-head attention.

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

CHAPTER = "05_multi_head_attention"


def _mha_cases() -> Iterator[tuple]:
    # (x, w_q, w_k, w_v, w_o, h): the weights in the rows convention (Q = x @ w_q), no biases.
    for seed, (batch, n, d_model, h) in enumerate([(2, 3, 8, 2), (1, 5, 6, 3), (2, 4, 12, 4),
                                                   (1, 3, 4, 1)]):
        g = generator(95 + seed)
        scale = d_model ** -0.5
        yield (torch.randn(batch, n, d_model, generator=g),
               *(scale * torch.randn(d_model, d_model, generator=g) for _ in range(4)), h)


def _mha(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor, w_o: Tensor, h: int, *,
         split: str = "blocks", merge: str = "blocks", scale: str = "d_h", dim: int = -1,
         order: str = "forward", out: bool = True) -> Tensor:
    """Multi-head attention with one mistake switched on (the defaults are right)."""
    batch, n, d = x.shape
    d_h = d // h

    def heads_of(t: Tensor) -> Tensor:  # (batch, n, d) → (batch, h, n, d_h)
        if split == "blocks":
            return t.reshape(batch, n, h, d_h).transpose(1, 2)
        if split == "interleaved":
            return t.reshape(batch, n, d_h, h).permute(0, 3, 1, 2)
        return t.reshape(batch, h, n, d_h)  # "across tokens"

    q, k, v = heads_of(x @ w_q), heads_of(x @ w_k), heads_of(x @ w_v)
    divide = {"d_h": d_h ** 0.5, "d_model": d ** 0.5, "none": 1.0}[scale]
    heads = torch.softmax(q @ k.transpose(-2, -1) / divide, dim=dim) @ v  # (batch, h, n, d_h)
    if order == "reversed":
        heads = heads.flip(1)
    if merge == "blocks":
        concat = heads.transpose(1, 2).reshape(batch, n, d)
    elif merge == "interleaved":
        concat = heads.permute(0, 2, 3, 1).reshape(batch, n, d)
    else:  # "across tokens"
        concat = heads.reshape(batch, n, d)
    return concat @ w_o if out else concat


def _mha_reference(x: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor, w_o: Tensor,
                   h: int) -> Tensor:
    return _mha(x, w_q, w_k, w_v, w_o, h)


def _mha_shape_hints(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, *_, h = args
    batch, n, d = x.shape
    if tuple(got.shape) == (batch, h, n, d // h):
        return (f"the output has shape {tuple(got.shape)}: the h heads' outputs, one "
                "(n, d_h) block per head. Concatenate each token's h pieces side by side, "
                "(batch, n, d_model), then mix them with W^O")
    return None


def _mha_head_size(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, *_, h = args
    batch, n, d = x.shape
    if h > 1 and tuple(got.shape) == (batch, n, d // h):
        return (f"the output has shape {tuple(got.shape)}, the size of one head (d_h = "
                "d_model / h): the heads were averaged or summed. Concatenate them (the "
                "total size stays d_model), then apply W^O")
    return None


def _mha_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, w_q, w_k, w_v, w_o, h = args
    if got.shape != expected.shape or close(got, expected):
        return None
    d = x.shape[-1]
    if close(got, _mha(x, w_q, w_k, w_v, w_o, h, out=False)):
        return ("W^O is missing: the concatenated heads are mixed by the output projection, "
                "Concat(head₁, …, head_h) W^O")
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, 1, scale="d_model")):
        return (f"this is one attention over all d_model columns: split Q, K and V into h = {h} "
                "heads of d_model / h columns, attend in each head on its own, then "
                "concatenate")
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, scale="d_model")):
        return ("the scores are divided by √d_model: each head's queries and keys have "
                "d_h = d_model / h columns, so divide by √d_h")
    if d // h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, scale="none")):
        return "the scores are not divided by √d_h: head_i = softmax(Q_i K_iᵀ / √d_h) V_i"
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, order="reversed")):
        return ("the heads are concatenated in the wrong order: head 1's output takes columns "
                "0 … d_h − 1 of the concatenation, head 2's the next d_h, and so on — the "
                "order that the rows of W^O expect")
    if h > 1 and (close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="interleaved"))
                  or close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="interleaved",
                                     merge="interleaved"))):
        return ("head i got every h-th column (an interleaved split): head i holds the "
                "contiguous block of columns i·d_h … (i+1)·d_h − 1, reshape to "
                "(batch, n, h, d_h), then .transpose(1, 2)")
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, merge="interleaved")):
        return ("the heads are interleaved column by column in the concatenation: put each "
                "head's d_h numbers side by side, head 1 first — .transpose(1, 2) then "
                ".reshape(batch, n, d_model)")
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, split="across tokens")):
        return ("reshaping (batch, n, d_model) straight to (batch, h, n, d_h) cuts across "
                "tokens: reshape to (batch, n, h, d_h), each token's vector cut into h pieces, "
                "then .transpose(1, 2)")
    if h > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, merge="across tokens")):
        return ("reshaping the heads (batch, h, n, d_h) straight to (batch, n, d_model) mixes "
                "tokens: .transpose(1, 2) first, so each token's h pieces sit side by side")
    if close(got, _mha(x, w_q.T, w_k.T, w_v.T, w_o.T, h)):
        return ("the weights are transposed: here they are in the rows convention, Q = x @ w_q "
                "(nn.Linear stores the transpose and computes x @ weight.T)")
    if x.shape[1] > 1 and close(got, _mha(x, w_q, w_k, w_v, w_o, h, dim=-2)):
        return ("the softmax runs over the queries (dim=-2): in each head, each query's "
                "weights over the keys must sum to 1, dim=-1")
    return None


register(
    CHAPTER,
    Exercise(
        name="multi_head_attention",
        signature="multi_head_attention(x (batch, n, d_model), w_q, w_k, w_v, w_o "
                  "(d_model, d_model) each, h) -> (batch, n, d_model)",
        reference=_mha_reference,
        cases=_mha_cases,
        diagnoses=[_mha_head_size, wrong_shape, _mha_mistakes],
        shape_hints=[_mha_shape_hints],
        error_hints=[
            ("invalid for input of size", "d_model splits into h heads of d_h = d_model // h "
                                          "columns: reshape to (batch, n, h, d_h)"),
            *((pattern, "d_model / h is a float: the head size is d_model // h")
              for pattern in ("got float", "type float")),
        ],
    ),
)
