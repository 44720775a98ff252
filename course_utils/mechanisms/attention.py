"""Attention as a soft, differentiable lookup: score -> softmax -> weighted sum.

The notes' three steps (Part I, "Machine translation with attention"):

1. **score**: how well the query matches every key, e.g. a dot product  q·kᵢ
2. **softmax**: normalise the scores into weights αᵢ that are ≥ 0 and sum to 1
3. **weighted sum**: the context vector  c = Σᵢ αᵢ vᵢ

Conventions (as in the package docstring): batch first, ``(batch, ..., n, d)``; a boolean
mask is **True = may attend**, broadcastable to the scores ``(..., n_q, n_k)`` (as in
:func:`torch.nn.functional.scaled_dot_product_attention`); float32 and float64 keep their
dtype. Bad input raises a ``ValueError``/``TypeError`` naming the argument and the shapes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..foundations.checks import (
    attention_mask,
    float_sequence,
    float_tensor,
    float_tensor_of_rank,
    positive_int,
    same_batch,
    same_dtype,
)

__all__ = [
    "masked_softmax",
    "dot_product_scores",
    "hard_attention_weights",
    "context_vector",
    "scaled_dot_product_attention",
    "AdditiveAttention",
    "split_heads",
    "merge_heads",
    "MultiHeadAttention",
]


# --------------------------------------------------------------------------- step 2: softmax
def masked_softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Attention weights α = softmax(scores) over ``dim``, only where ``mask`` is True.

    Args:
        scores: ``(..., n_q, n_k)`` float tensor.
        mask: optional bool tensor broadcastable to ``scores``; True = may attend.
        dim: the key axis to normalise over (default the last).

    Returns:
        Weights of the shape and dtype of ``scores``; each row sums to 1 over the allowed
        keys. A row with nothing to attend to is all zeros (never NaN), with finite gradients.
    """
    scores = float_tensor("scores", scores, 1, "(..., n_k)")
    if mask is None:
        return torch.softmax(scores, dim=dim)
    mask = attention_mask(mask, scores).expand_as(scores)
    has_any = mask.any(dim=dim, keepdim=True)  # rows with at least one allowed key
    # Masked keys get -inf (exp(-inf) = 0); rows with no allowed key are zeroed first so
    # that softmax never sees a row of only -inf (which would give 0/0 = NaN).
    filled = scores.masked_fill(~mask, float("-inf")).masked_fill(~has_any, 0.0)
    weights = torch.softmax(filled, dim=dim)
    return weights.masked_fill(~mask, 0.0)


def hard_attention_weights(scores: Tensor) -> Tensor:
    """Hard (argmax) attention: a one-hot weight on the best-scoring key.

    Args:
        scores: ``(..., n_q, n_k)``.

    Returns:
        ``(..., n_q, n_k)`` one-hot weights of the dtype of ``scores``. The argmax is not
        differentiable: the result has no ``grad_fn``, so no gradient flows back to the scores.
    """
    scores = float_tensor("scores", scores, 1, "(..., n_k)")
    best = scores.argmax(dim=-1)
    return nn.functional.one_hot(best, scores.shape[-1]).to(scores.dtype)


# --------------------------------------------------------------------------- step 1: score
def dot_product_scores(query: Tensor, keys: Tensor, scaled: bool = True) -> Tensor:
    """Dot-product scores  sᵢⱼ = qᵢ·kⱼ (/ √d when ``scaled``).

    Args:
        query: ``(..., n_q, d)``.
        keys: ``(..., n_k, d)`` with the same leading dimensions as ``query``.
        scaled: divide by √d (the Transformer's Score = QKᵀ/√d_k).

    Returns:
        ``(..., n_q, n_k)`` scores.
    """
    _check_query_keys(query, keys, scaled)
    scores = query @ keys.transpose(-2, -1)  # s = Q Kᵀ
    if scaled:
        scores = scores / math.sqrt(query.shape[-1])  # s = Q Kᵀ / √d_k
    return scores


def _check_query_keys(query: object, keys: object, scaled: bool) -> None:
    """float tensors of one dtype, ``(..., n_q, d)`` and ``(..., n_k, d)``, one batch; d > 0
    when the scores are scaled by 1/√d."""
    float_tensor("query", query, 2, "(..., n_q, d)")
    float_tensor("keys", keys, 2, "(..., n_k, d)")
    same_dtype(query=query, keys=keys)
    if query.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"query and keys must have the same last dimension d; got query "
            f"{tuple(query.shape)} (..., n_q, d) and keys {tuple(keys.shape)} (..., n_k, d)"
        )
    same_batch("query", query, "keys", keys, tail=2)
    if scaled and query.shape[-1] == 0:
        raise ValueError(f"query and keys have width d = 0: the scaled scores QKᵀ/√d would be "
                         f"0/0; got query {tuple(query.shape)} and keys {tuple(keys.shape)}")


# --------------------------------------------------------------------------- step 3: sum
def context_vector(weights: Tensor, values: Tensor) -> Tensor:
    """The context vector  c = Σᵢ αᵢ vᵢ  for every query.

    Args:
        weights: ``(..., n_q, n_k)`` attention weights α.
        values: ``(..., n_k, d_v)`` with the same leading dimensions.

    Returns:
        ``(..., n_q, d_v)``.
    """
    _check_weights_values(weights, values)
    return weights @ values  # c = Σᵢ αᵢ vᵢ


def _check_weights_values(weights: object, values: object) -> None:
    """float tensors of one dtype, ``(..., n_q, n_k)`` and ``(..., n_k, d_v)``, one batch."""
    float_tensor("weights", weights, 2, "(..., n_q, n_k)")
    float_tensor("values", values, 2, "(..., n_k, d_v)")
    same_dtype(weights=weights, values=values)
    if weights.shape[-1] != values.shape[-2]:
        raise ValueError(
            f"weights have n_k = {weights.shape[-1]} keys but values have "
            f"{values.shape[-2]} rows; got weights {tuple(weights.shape)} (..., n_q, n_k) and "
            f"values {tuple(values.shape)} (..., n_k, d_v)"
        )
    same_batch("weights", weights, "values", values, tail=2)


# --------------------------------------------------------------------------- all three
def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """A(Q, K, V) = softmax(QKᵀ / √d_k) V, returning the weights too.

    Args:
        query: ``(..., n_q, d_k)``.
        key: ``(..., n_k, d_k)``.
        value: ``(..., n_k, d_v)``.
        mask: optional bool, broadcastable to ``(..., n_q, n_k)``; True = may attend.

    Returns:
        ``(output, weights)``: output ``(..., n_q, d_v)``, weights ``(..., n_q, n_k)``.
        The output equals :func:`torch.nn.functional.scaled_dot_product_attention`'s
        (except on fully masked rows, where this one gives zeros instead of NaN).
    """
    _check_key_value(query, key, value)
    scores = dot_product_scores(query, key, scaled=True)  # QKᵀ / √d_k
    weights = masked_softmax(scores, mask)  # softmax
    return context_vector(weights, value), weights  # · V


def _check_key_value(query: object, key: object, value: object) -> None:
    """``value (..., n_k, d_v)`` a float tensor with as many rows as ``key``, after the checks
    of :func:`dot_product_scores` on query and key (in that order)."""
    float_tensor("value", value, 2, "(..., n_k, d_v)")
    _check_query_keys(query, key, scaled=True)
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(
            f"key and value must have the same number of rows n_k; got key "
            f"{tuple(key.shape)} and value {tuple(value.shape)}"
        )


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: score(q, k) = vᵀ tanh(W_q q + W_k k).

    Args:
        query_size: width of a query.
        key_size: width of a key.
        hidden_size: width of the hidden layer inside the score.

    Shapes of ``forward``: query ``(batch, n_q, query_size)``, keys ``(batch, n_k, key_size)``,
    values ``(batch, n_k, d_v)``, mask bool broadcastable to ``(batch, n_q, n_k)`` →
    context ``(batch, n_q, d_v)``, weights ``(batch, n_q, n_k)``.

    **Keys projected once.** W_k k does not depend on the query, so a decoder that asks a new
    query of the same keys at every step projects them once (:meth:`project_keys`, Bahdanau
    et al.'s precomputed U_a h_j) and passes ``projected_keys=`` to :meth:`forward` or
    :meth:`scores` at each step: the same matrix product on the same tensors, so the same
    result, without repeating n_k · key_size · hidden_size multiply-adds per step.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, size in (("query_size", query_size), ("key_size", key_size),
                           ("hidden_size", hidden_size)):
            positive_int(name, size)
        self.w_query = nn.Linear(query_size, hidden_size, bias=False)
        self.w_key = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_k k for every key: ``(batch, n_k, key_size)`` → ``(batch, n_k, hidden_size)``.

        Independent of the query: compute it once per set of keys and pass it as
        ``projected_keys`` to every later :meth:`scores` / :meth:`forward` call on them.
        """
        self._check_keys(keys)
        return self.w_key(keys)  # W_k k, (batch, n_k, hidden)

    def scores(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None
               ) -> Tensor:
        """``(batch, n_q, query_size)``, ``(batch, n_k, key_size)`` → ``(batch, n_q, n_k)``.

        ``projected_keys``: optional ``project_keys(keys)``, computed earlier; when given, the
        keys are not projected again (the result is the same).
        """
        self._check(query, keys)
        q = self.w_query(query).unsqueeze(2)  # (batch, n_q, 1, hidden)
        if projected_keys is None:
            projected_keys = self.w_key(keys)  # W_k k, (batch, n_k, hidden)
        else:
            self._check_projected(projected_keys, keys)
        k = projected_keys.unsqueeze(1)  # (batch, 1, n_k, hidden)
        return self.v(torch.tanh(q + k)).squeeze(-1)  # vᵀ tanh(W_q q + W_k k)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Context and weights; ``projected_keys`` as in :meth:`scores`."""
        self._check(query, keys, values)
        weights = masked_softmax(self.scores(query, keys, projected_keys), mask)
        return context_vector(weights, values), weights

    def _check_keys(self, keys: object) -> None:
        k_size = self.w_key.in_features
        keys = float_tensor("keys", keys, 3, f"(batch, n_k, {k_size})")
        if keys.dim() != 3 or keys.shape[-1] != k_size:
            raise ValueError(f"keys must have shape (batch, n_k, {k_size}); got "
                             f"{tuple(keys.shape)}")
        if keys.dtype != self.w_key.weight.dtype:
            raise TypeError(
                f"the module's weights are {self.w_key.weight.dtype} but keys are "
                f"{keys.dtype}; convert one side (e.g. module.double() for float64 inputs)"
            )

    def _check_projected(self, projected_keys: object, keys: Tensor) -> None:
        hidden = self.w_key.out_features
        projected_keys = float_tensor("projected_keys", projected_keys, 3,
                                      f"(batch, n_k, {hidden})")
        expected = (*keys.shape[:2], hidden)
        if tuple(projected_keys.shape) != expected:
            raise ValueError(
                f"projected_keys must have shape (batch, n_k, {hidden}) = {expected}, as "
                f"project_keys(keys) gives; got {tuple(projected_keys.shape)} for keys "
                f"{tuple(keys.shape)}"
            )
        if projected_keys.dtype != keys.dtype:
            raise TypeError(f"projected_keys are {projected_keys.dtype} but keys are "
                            f"{keys.dtype}; they must have the same dtype")

    def _check(self, query: Tensor, keys: Tensor, values: object = None) -> None:
        """query and keys as :meth:`scores` takes them; ``values``, when given, as
        :meth:`forward` takes them."""
        q_size, k_size = self.w_query.in_features, self.w_key.in_features
        query = float_tensor("query", query, 3, f"(batch, n_q, {q_size})")
        keys = float_tensor("keys", keys, 3, f"(batch, n_k, {k_size})")
        if query.dim() != 3 or query.shape[-1] != q_size:
            raise ValueError(
                f"query must have shape (batch, n_q, {q_size}); got {tuple(query.shape)}"
            )
        if keys.dim() != 3 or keys.shape[-1] != k_size:
            raise ValueError(
                f"keys must have shape (batch, n_k, {k_size}); got {tuple(keys.shape)}"
            )
        if query.shape[0] != keys.shape[0]:
            raise ValueError(
                f"query and keys must have the same batch size; got query "
                f"{tuple(query.shape)} and keys {tuple(keys.shape)}"
            )
        dtype = self.w_query.weight.dtype
        if query.dtype != dtype or keys.dtype != dtype:
            raise TypeError(
                f"the module's weights are {dtype} but query is {query.dtype} and keys "
                f"{keys.dtype}; convert one side (e.g. module.double() for float64 inputs)"
            )
        if values is None:
            return
        values = float_tensor("values", values, 3, "(batch, n_k, d_v)")
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(
                f"values must have shape (batch, n_k, d_v) matching keys' (batch, n_k); got "
                f"values {tuple(values.shape)} and keys {tuple(keys.shape)}"
            )


# --------------------------------------------------------------------------- multi-head
def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(batch, n, d_model)`` → ``(batch, num_heads, n, d_model / num_heads)``: head i gets
    columns i·d_h … (i + 1)·d_h − 1 of the projection."""
    _check_split(x, num_heads)
    batch, n, d_model = x.shape
    return x.reshape(batch, n, num_heads, d_model // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """``(batch, num_heads, n, d_h)`` → ``(batch, n, num_heads · d_h)``: Concat(head₁, …)."""
    float_tensor_of_rank("x", x, 4, "(batch, num_heads, n, d_h)")
    batch, heads, n, d_h = x.shape
    return x.transpose(1, 2).reshape(batch, n, heads * d_h)


def _check_split(x: object, num_heads: object) -> None:
    float_tensor_of_rank("x", x, 3, "(batch, n, d_model)")
    positive_int("num_heads", num_heads)
    if x.shape[-1] % num_heads:
        raise ValueError(f"x has width d_model = {x.shape[-1]}, not divisible by num_heads = "
                         f"{num_heads}: each head needs d_model / num_heads columns")


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head₁, …, head_h) W^O, head_i = A(Q W_i^Q, K W_i^K, V W_i^V).

    The h heads' projections W_i^Q (d_model × d_model/h) are the column blocks of one
    ``w_query`` (d_model × d_model), and likewise for keys and values: each head works in a
    subspace of size d_model / h, so the total size — and the parameter count — is the same
    for every h.

    Args:
        d_model: width of the inputs and the output; must be divisible by ``num_heads``.
        num_heads: h.
        bias: give the four linear maps a bias (as ``torch.nn.MultiheadAttention`` does).

    ``forward(query (batch, n_q, d_model), key (batch, n_k, d_model), value (batch, n_k,
    d_model), mask=None)`` → ``(output (batch, n_q, d_model), weights (batch, num_heads, n_q,
    n_k))``. ``mask``: bool, True = may attend, broadcastable to ``(batch, num_heads, n_q,
    n_k)``; a ``(batch, n_q, n_k)`` mask applies to every head.

    ``forward`` is :meth:`project_key_value` followed by :meth:`attend`. A decoder calls the
    two halves itself to keep a **key/value cache**: it projects the keys and values of a
    position (or of the encoder's memory) once, keeps the heads, and lets later queries
    attend to them without projecting them again.
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        positive_int("d_model", d_model)
        positive_int("num_heads", num_heads)
        if d_model % num_heads:
            raise ValueError(f"d_model = {d_model} is not divisible by num_heads = {num_heads}: "
                             "each head needs d_model / num_heads dimensions")
        self.d_model, self.num_heads = d_model, num_heads
        self.w_query = nn.Linear(d_model, d_model, bias=bias)  # [W_1^Q … W_h^Q]
        self.w_key = nn.Linear(d_model, d_model, bias=bias)  # [W_1^K … W_h^K]
        self.w_value = nn.Linear(d_model, d_model, bias=bias)  # [W_1^V … W_h^V]
        self.w_out = nn.Linear(d_model, d_model, bias=bias)  # W^O

    @property
    def head_size(self) -> int:
        return self.d_model // self.num_heads

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(query, key, value)
        # Project q first, then k and v: in self-attention autograd sums the gradients of the
        # shared input in this order, and the chapters' trained numbers depend on it.
        q = split_heads(self.w_query(query), self.num_heads)  # (batch, h, n_q, d_h)
        k, v = self._project_key_value(key, value)  # (batch, h, n_k, d_h) each
        return self._attend_heads(q, k, v, mask)

    def project_key_value(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """The heads' keys K W_i^K and values V W_i^V, computed once so that they can be kept.

        ``key (batch, n_k, d_model)``, ``value (batch, n_k, d_model)`` → ``(k_heads, v_heads)``,
        each ``(batch, num_heads, n_k, d_model / num_heads)``.
        """
        self._check_key_value(key, value)
        return self._project_key_value(key, value)

    def attend(self, query: Tensor, k_heads: Tensor, v_heads: Tensor,
               mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Multi-head attention of ``query`` over keys and values already split into heads
        (by :meth:`project_key_value`, possibly concatenated over several calls).

        ``query (batch, n_q, d_model)``, ``k_heads`` and ``v_heads (batch, num_heads, n_k,
        d_model / num_heads)``, ``mask`` as in ``forward`` → ``(output (batch, n_q, d_model),
        weights (batch, num_heads, n_q, n_k))``; ``attend(q, *project_key_value(k, v), mask)``
        is ``forward(q, k, v, mask)``, bit for bit.
        """
        self._check_heads(query, k_heads, v_heads)
        q = split_heads(self.w_query(query), self.num_heads)  # (batch, h, n_q, d_h)
        return self._attend_heads(q, k_heads, v_heads, mask)

    def _project_key_value(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        k = split_heads(self.w_key(key), self.num_heads)  # (batch, h, n_k, d_h)
        v = split_heads(self.w_value(value), self.num_heads)  # (batch, h, n_k, d_h)
        return k, v

    def _attend_heads(self, q: Tensor, k: Tensor, v: Tensor,
                      mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if mask is not None and isinstance(mask, Tensor) and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (batch, 1, n_q, n_k): the same for every head
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # each head on its own
        return self.w_out(merge_heads(heads)), weights  # Concat(head₁, …, head_h) W^O

    def _check_input(self, name: str, x: object, n: str) -> None:
        x = float_sequence(name, x, self.d_model, n)
        if x.dtype != self.w_query.weight.dtype:
            raise TypeError(f"the module's weights are {self.w_query.weight.dtype} but "
                            f"{name} is {x.dtype}; convert one side (e.g. module.double())")

    def _check_key_value(self, key: Tensor, value: Tensor) -> None:
        for name, x in (("key", key), ("value", value)):
            self._check_input(name, x, "n_k")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key and value must have the same batch size and length n_k; "
                             f"got key {tuple(key.shape)} and value {tuple(value.shape)} "
                             f"(batch, n_k, {self.d_model})")

    def _check_heads(self, query: Tensor, k_heads: Tensor, v_heads: Tensor) -> None:
        """query as :meth:`forward` takes it; k_heads and v_heads split into this module's
        heads, of query's dtype and batch, and of one length n_k."""
        self._check_input("query", query, "n_q")
        h, d_h = self.num_heads, self.head_size
        for name, x in (("k_heads", k_heads), ("v_heads", v_heads)):
            x = float_tensor(name, x, 4, f"(batch, {h}, n_k, {d_h})")
            if x.dim() != 4 or x.shape[1] != h or x.shape[3] != d_h:
                raise ValueError(f"{name} must have shape (batch, {h}, n_k, {d_h}) "
                                 f"(batch, num_heads, n_k, d_model / num_heads); got "
                                 f"{tuple(x.shape)}")
            if x.dtype != query.dtype:
                raise TypeError(f"{name} is {x.dtype} but query is {query.dtype}")
        if not query.shape[0] == k_heads.shape[0] == v_heads.shape[0]:
            raise ValueError(f"query, k_heads and v_heads must have the same batch size; got "
                             f"{tuple(query.shape)}, {tuple(k_heads.shape)}, "
                             f"{tuple(v_heads.shape)}")
        if k_heads.shape[2] != v_heads.shape[2]:
            raise ValueError(f"k_heads and v_heads must have the same length n_k; got "
                             f"{tuple(k_heads.shape)} and {tuple(v_heads.shape)}")

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, x, n in (("query", query, "n_q"), ("key", key, "n_k"), ("value", value, "n_k")):
            self._check_input(name, x, n)
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(f"query, key and value must have the same batch size; got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value must have the same length n_k; got "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy with the weights of a ``torch.nn.MultiheadAttention`` (batch_first or not:
        only the calling convention differs). Its output then equals the module's, called
        batch-first and with the mask converted (torch's boolean masks mean True = *masked*)."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(f"module must be a torch.nn.MultiheadAttention, got "
                            f"{type(module).__name__}")
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError("only the plain layout is supported: kdim = vdim = embed_dim, "
                             "no add_bias_kv, no add_zero_attn")
        bias = module.in_proj_bias is not None
        copy = cls(module.embed_dim, module.num_heads, bias=bias).to(module.in_proj_weight.dtype)
        d = module.embed_dim
        with torch.no_grad():
            for i, linear in enumerate((copy.w_query, copy.w_key, copy.w_value)):
                linear.weight.copy_(module.in_proj_weight[i * d:(i + 1) * d])
                if bias:
                    linear.bias.copy_(module.in_proj_bias[i * d:(i + 1) * d])
            copy.w_out.weight.copy_(module.out_proj.weight)
            if bias:
                copy.w_out.bias.copy_(module.out_proj.bias)
        return copy
