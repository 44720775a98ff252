"""The Transformer (the notes' figure): an encoder stack and a decoder stack, post-norm as in the
notes and the original paper.

Encoder block (编码器模块)::

    x = LayerNorm(x + MultiHeadAttention(x, x, x))   residual (残差连接) + LayerNorm (层归一化)
    x = LayerNorm(x + FFN(x)),   FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂

(BERT and its descendants, chapter 11's pretrained encoder among them, use the same block with
GELU in place of ReLU, FFN(x) = W₂ GELU(W₁ x + b₁) + b₂: ``EncoderBlock(...,
activation="gelu")``.)

Decoder block (解码器模块)::

    x = LayerNorm(x + MaskedMultiHeadAttention(x, x, x))     masked self-attention: no peeking
    x = LayerNorm(x + MultiHeadAttention(x, memory, memory))  cross-attention to the encoder
    x = LayerNorm(x + FFN(x))

Built from the course's own :class:`~course_utils.mechanisms.attention.MultiHeadAttention`;
``EncoderBlock.from_torch`` / ``DecoderBlock.from_torch`` copy a
``torch.nn.TransformerEncoderLayer`` / ``torch.nn.TransformerDecoderLayer`` (``batch_first=True,
norm_first=False``; ``activation="relu"``, or ``"gelu"`` for an encoder layer), whose output they
then equal in eval mode.
:class:`DecoderBlock` also decodes one position at a time with a key/value cache
(:class:`LayerCache`).

The whole Transformer for chapter 02's translation task, which puts these blocks together, is
:class:`course_utils.worlds.translation_transformer.Transformer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from ..foundations.checks import (
    float_sequence,
    float_tensor,
    positive_int,
    probability,
    real_number,
)
from .attention import MultiHeadAttention

__all__ = ["FeedForward", "EncoderBlock", "causal_mask", "DecoderBlock", "LayerCache"]


#: The feed-forward network's nonlinearities, by name: ReLU(z) = max(0, z) (the original
#: Transformer) and the exact GELU(z) = z Φ(z), Φ the standard normal's CDF (BERT; torch's
#: ``activation="gelu"``, computed with erf, not the tanh approximation).
_ACTIVATIONS = {"relu": torch.relu, "gelu": torch.nn.functional.gelu}


def _activation_name(activation: object) -> str:
    """``activation`` if it is one of the names of ``_ACTIVATIONS``, else ``ValueError``."""
    if not isinstance(activation, str) or activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}; "
                         f"got {activation!r}")
    return activation


def _torch_activation(activation: object) -> str | None:
    """The name of a torch layer's ``activation`` (a function or a module), None if it is
    neither ReLU nor the exact GELU."""
    functional = torch.nn.functional
    if activation is functional.relu or isinstance(activation, nn.ReLU):
        return "relu"
    if activation is functional.gelu or (isinstance(activation, nn.GELU)
                                         and activation.approximate == "none"):
        return "gelu"
    return None


def _check_torch_layer(layer: object, kind: type[nn.Module],
                       activations: tuple[str, ...] = ("relu",)) -> str:
    """The PyTorch layers a block can copy: ``kind``, post-norm, batch first, one of
    ``activations``; returns the layer's activation's name."""
    if not isinstance(layer, kind):
        raise TypeError(f"layer must be a torch.nn.{kind.__name__}, got {type(layer).__name__}")
    if layer.norm_first:
        raise ValueError("only post-norm layers (norm_first=False) match the notes' block")
    if not layer.self_attn.batch_first:
        raise ValueError("build the layer with batch_first=True")
    name = _torch_activation(layer.activation)
    if name not in activations:
        raise ValueError(f"only activation={' or '.join(map(repr, activations))} is supported "
                         f"for a {kind.__name__}, got {layer.activation!r}")
    return name


def _copy_weights(*pairs: tuple[nn.Module, nn.Module]) -> None:
    """Copy each (ours, theirs) Linear or LayerNorm: weight, bias (a layer built with
    bias=False has none: a zero bias is the same) and a LayerNorm's eps."""
    with torch.no_grad():
        for ours, theirs in pairs:
            ours.weight.copy_(theirs.weight)
            if theirs.bias is None:
                ours.bias.zero_()
            else:
                ours.bias.copy_(theirs.bias)
            if isinstance(ours, nn.LayerNorm):
                ours.eps = theirs.eps


def _check_block_args(d_model: object, num_heads: object, d_ff: object, dropout: object
                      ) -> None:
    for name, size in (("d_model", d_model), ("num_heads", num_heads), ("d_ff", d_ff)):
        positive_int(name, size)
    probability("dropout", dropout)


def _check_eps(layer_norm_eps: object) -> None:
    real_number("layer_norm_eps", layer_norm_eps)
    if not layer_norm_eps > 0:
        raise ValueError(f"layer_norm_eps must be > 0, got {layer_norm_eps!r}")


class FeedForward(nn.Module):
    """The position-wise 2-layer network: ``(..., d_model)`` → ``(..., d_model)``,
    FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂ with a hidden width ``d_ff``; with
    ``activation="gelu"``, FFN(x) = W₂ GELU(W₁ x + b₁) + b₂ (the exact, erf GELU, as in BERT).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu") -> None:
        super().__init__()
        positive_int("d_model", d_model)
        positive_int("d_ff", d_ff)
        probability("dropout", dropout)
        self.activation = _activation_name(activation)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        hidden = _ACTIVATIONS[self.activation](self.linear1(x))  # ReLU or GELU(W₁ x + b₁)
        return self.linear2(self.dropout(hidden))  # W₂ (…) + b₂

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


class EncoderBlock(nn.Module):
    """One encoder block: self-attention and a feed-forward network, each wrapped in a
    residual connection and a LayerNorm (post-norm).

    Args:
        d_model: width of the tokens; num_heads: heads of the attention (d_model % num_heads
            must be 0); d_ff: hidden width of the FFN; dropout: after the attention and the FFN
            and inside the FFN, as in PyTorch's layer (which also drops attention weights,
            which this block does not); 0 in this course, so the two agree in training too;
        activation: the FFN's nonlinearity, ``"relu"`` (the original Transformer) or
            ``"gelu"`` (BERT); layer_norm_eps: the two LayerNorms' ε (1e-5 as in PyTorch;
            BERT uses 1e-12).

    ``forward(x (batch, n, d_model), mask=None)`` → ``(output (batch, n, d_model), weights
    (batch, num_heads, n, n))``; ``mask`` bool, True = may attend, broadcastable to
    ``(batch, num_heads, n, n)`` (e.g. ``(batch, 1, 1, n)`` for padding, ``(n, n)`` causal).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: str = "relu", layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        _check_block_args(d_model, num_heads, d_ff, dropout)
        _check_eps(layer_norm_eps)
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        attended, weights = self.attention(x, x, x, mask)
        x = self.norm1(x + self.dropout1(attended))  # LayerNorm(x + MHA(x))
        x = self.norm2(x + self.dropout2(self.ffn(x)))  # LayerNorm(x + FFN(x))
        return x, weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> EncoderBlock:
        """A copy with the weights of a ``torch.nn.TransformerEncoderLayer`` built with
        ``batch_first=True, norm_first=False`` and ``activation="relu"`` or ``"gelu"`` (the
        exact GELU: ``F.gelu`` or ``nn.GELU()``, not ``approximate="tanh"``)."""
        activation = _check_torch_layer(layer, nn.TransformerEncoderLayer, ("relu", "gelu"))
        d_model = layer.linear1.in_features
        block = cls(d_model, layer.self_attn.num_heads, layer.linear1.out_features,
                    layer.dropout.p, activation,
                    layer.norm1.eps).to(layer.linear1.weight.dtype)
        block.attention = MultiHeadAttention.from_torch(layer.self_attn)
        _copy_weights((block.ffn.linear1, layer.linear1), (block.ffn.linear2, layer.linear2),
                      (block.norm1, layer.norm1), (block.norm2, layer.norm2))
        return block.train(layer.training)


# =============================================================================== the decoder
def causal_mask(n: int, device: torch.device | str | None = None) -> Tensor:
    """The decoder's "no peeking" mask: ``(n, n)`` bool, True = may attend.

    Row t (the query at position t) may attend to positions 0 … t: the lower triangle,
    diagonal included. Broadcasts to the scores ``(batch, num_heads, n, n)``.
    """
    positive_int("n", n)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()  # j ≤ t


def _check_cached(name: str, x: object, batch: int, heads: int, d_h: int,
                  length: int | str) -> None:
    """One tensor of a :class:`LayerCache`: ``(batch, heads, length, d_h)``."""
    x = float_tensor(f"cache.{name}", x, 4, "(batch, num_heads, length, d_h)")
    if x.dim() != 4 or (x.shape[0], x.shape[1], x.shape[3]) != (batch, heads, d_h) or (
            isinstance(length, int) and x.shape[2] != length):
        raise ValueError(f"cache.{name} has shape {tuple(x.shape)}, but this block needs "
                         f"(batch, num_heads, {length}, d_model / num_heads) = ({batch}, "
                         f"{heads}, {length}, {d_h}): the cache was built for another block, "
                         f"batch or memory")


@dataclass(frozen=True)
class LayerCache:
    """What one :class:`DecoderBlock` keeps between decoding steps (the key/value cache).

    Attributes:
        self_key, self_value: ``(batch, num_heads, t, d_h)``, the self-attention's keys and
            values of the t positions decoded so far (they never change: a position only
            attends to earlier ones, so its key and value are final once computed).
        memory_key, memory_value: ``(batch, num_heads, n, d_h)``, the cross-attention's keys
            and values of the encoder's memory, projected once for the whole decoding.
        owner: the block that started the cache; :meth:`DecoderBlock.step` refuses a cache
            owned by another block (None, for a cache built by hand: then only its shapes and
            dtype are checked).

    Made by :meth:`DecoderBlock.start_cache`; every :meth:`DecoderBlock.step` returns a new one,
    one position longer.
    """

    self_key: Tensor
    self_value: Tensor
    memory_key: Tensor
    memory_value: Tensor
    owner: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def length(self) -> int:
        """t: how many positions the cache holds."""
        return self.self_key.shape[2]

    def extend(self, key: Tensor, value: Tensor) -> LayerCache:
        """The cache with the keys and values ``(batch, num_heads, k, d_h)`` of k more
        positions appended."""
        return replace(self, self_key=torch.cat([self.self_key, key], dim=2),
                       self_value=torch.cat([self.self_value, value], dim=2))


class DecoderBlock(nn.Module):
    """One decoder block: masked self-attention, cross-attention to the encoder's output (the
    *memory*) and a feed-forward network, each wrapped in a residual connection and a LayerNorm
    (post-norm).

    Args:
        d_model: width of the tokens; num_heads: heads of both attentions (d_model % num_heads
            must be 0); d_ff: hidden width of the FFN; dropout: after each sublayer and inside
            the FFN, as in PyTorch's layer (which also drops attention weights, which this block
            does not); 0 in this course, so the two agree in training too.

    ``forward(x (batch, m, d_model), memory (batch, n, d_model), self_mask=None,
    memory_mask=None)`` → ``(output (batch, m, d_model), self_weights (batch, num_heads, m, m),
    cross_weights (batch, num_heads, m, n))``. Masks are bool, True = may attend:
    ``self_mask`` broadcastable to ``(batch, num_heads, m, m)`` (``causal_mask(m)`` for a
    decoder), ``memory_mask`` to ``(batch, num_heads, m, n)`` (``source_mask[:, None, None, :]``
    for the source's padding).

    ``start_cache(memory)`` and ``step(x_t, cache)`` run the same block one position at a time
    (see :meth:`step`).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        _check_block_args(d_model, num_heads, d_ff, dropout)
        self.self_attention = MultiHeadAttention(d_model, num_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, num_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    @property
    def d_model(self) -> int:
        return self.self_attention.d_model

    def forward(self, x: Tensor, memory: Tensor, self_mask: Tensor | None = None,
                memory_mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        self._check(x, memory, "m")
        attended, self_weights = self.self_attention(x, x, x, self_mask)
        x = self.norm1(x + self.dropout1(attended))  # LayerNorm(x + SelfMHA(x))
        attended, cross_weights = self.cross_attention(x, memory, memory, memory_mask)
        x = self.norm2(x + self.dropout2(attended))  # LayerNorm(x + CrossMHA(x, memory))
        x = self.norm3(x + self.dropout3(self.ffn(x)))  # LayerNorm(x + FFN(x))
        return x, self_weights, cross_weights

    # ------------------------------------------------------------ one position at a time
    def start_cache(self, memory: Tensor) -> LayerCache:
        """An empty cache for decoding against ``memory (batch, n, d_model)``: the memory's
        cross-attention keys and values are projected here, once."""
        float_sequence("memory", memory, self.d_model, "n")
        memory_key, memory_value = self.cross_attention.project_key_value(memory, memory)
        empty = memory_key.new_empty(*memory_key.shape[:2], 0, memory_key.shape[3])
        return LayerCache(empty, empty, memory_key, memory_value, owner=self)

    def step(self, x_t: Tensor, cache: LayerCache, memory_mask: Tensor | None = None
             ) -> tuple[Tensor, Tensor, Tensor, LayerCache]:
        """The block's output at the next position t = ``cache.length``, from that position's
        input alone and the cache: incremental decoding.

        Position t attends to positions 0 … t — exactly the keys in the cache plus its own, so
        no mask is needed (it is row t of the causal mask); the earlier positions' keys and
        values are not recomputed, and the memory's were projected by :meth:`start_cache`.
        Running t = 0, 1, … gives the outputs of ``forward(x, memory, causal_mask(m),
        memory_mask)``, one row at a time.

        Args:
            x_t: ``(batch, 1, d_model)``, the block's input at position t.
            cache: the :class:`LayerCache` of positions 0 … t−1 (from :meth:`start_cache`
                at t = 0, then from the previous step).
            memory_mask: bool, True = may attend, broadcastable to ``(batch, num_heads, 1, n)``
                (e.g. ``source_mask[:, None, None, :]``).

        Returns:
            ``(output (batch, 1, d_model), self_weights (batch, num_heads, 1, t + 1),
            cross_weights (batch, num_heads, 1, n), cache)``, the cache now holding t + 1
            positions.
        """
        self._check_step(x_t, cache)
        key, value = self.self_attention.project_key_value(x_t, x_t)  # k_t, v_t of position t
        cache = cache.extend(key, value)  # the keys and values of positions 0 … t
        attended, self_weights = self.self_attention.attend(x_t, cache.self_key,
                                                            cache.self_value)
        x = self.norm1(x_t + self.dropout1(attended))  # LayerNorm(x + SelfMHA(x))
        attended, cross_weights = self.cross_attention.attend(
            x, cache.memory_key, cache.memory_value, memory_mask)
        x = self.norm2(x + self.dropout2(attended))  # LayerNorm(x + CrossMHA(x, memory))
        x = self.norm3(x + self.dropout3(self.ffn(x)))  # LayerNorm(x + FFN(x))
        return x, self_weights, cross_weights, cache

    def _check_step(self, x_t: object, cache: object) -> None:
        """``x_t (batch, 1, d_model)`` and a :class:`LayerCache` of this block, for that batch."""
        float_sequence("x_t", x_t, self.d_model, "1")
        if x_t.shape[1] != 1:
            raise ValueError(f"x_t must hold one position, shape (batch, 1, {self.d_model}); "
                             f"got {tuple(x_t.shape)}")
        self._check_cache(cache, x_t.shape[0])

    def _check_cache(self, cache: object, batch: int) -> None:
        if not isinstance(cache, LayerCache):
            raise TypeError(f"cache must be a LayerCache (from start_cache), got "
                            f"{type(cache).__name__}")
        if cache.owner is not None and cache.owner is not self:
            raise ValueError("cache was started by another DecoderBlock: each block keeps its "
                             "own cache (its start_cache, then each of its steps, returns it)")
        if cache.memory_key.shape[0] != batch:
            raise ValueError(f"x_t has batch size {batch} but the cache was started "
                             f"for a memory of batch size {cache.memory_key.shape[0]}")
        h, d_h = self.self_attention.num_heads, self.self_attention.head_size
        _check_cached("memory_key", cache.memory_key, batch, h, d_h, "n")
        _check_cached("memory_value", cache.memory_value, batch, h, d_h,
                      cache.memory_key.shape[2])
        _check_cached("self_key", cache.self_key, batch, h, d_h, "t")
        _check_cached("self_value", cache.self_value, batch, h, d_h, cache.self_key.shape[2])
        dtype = self.self_attention.w_query.weight.dtype
        held = {t.dtype for t in (cache.self_key, cache.self_value, cache.memory_key,
                                  cache.memory_value)}
        if held != {dtype}:
            raise TypeError(f"cache holds {', '.join(sorted(map(str, held)))} tensors but the "
                            f"block's weights are {dtype}: start the cache with this block")

    def _check(self, x: Tensor, memory: Tensor, n_x: str) -> None:
        d = self.d_model
        x = float_sequence("x", x, d, n_x)
        memory = float_sequence("memory", memory, d, "n")
        if x.shape[0] != memory.shape[0]:
            raise ValueError(f"x and memory must have the same batch size; got x "
                             f"{tuple(x.shape)} and memory {tuple(memory.shape)}")

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> DecoderBlock:
        """A copy with the weights of a ``torch.nn.TransformerDecoderLayer`` built with
        ``batch_first=True, norm_first=False, activation="relu"``.

        Its output then equals ``layer(x, memory, tgt_mask=~self_mask,
        memory_key_padding_mask=~source_mask)`` (torch's boolean masks mean True = *masked*).
        """
        _check_torch_layer(layer, nn.TransformerDecoderLayer)
        weight = layer.linear1.weight
        block = cls(layer.linear1.in_features, layer.self_attn.num_heads,
                    layer.linear1.out_features, layer.dropout.p)
        block.self_attention = MultiHeadAttention.from_torch(layer.self_attn)
        block.cross_attention = MultiHeadAttention.from_torch(layer.multihead_attn)
        block = block.to(device=weight.device, dtype=weight.dtype)
        _copy_weights((block.ffn.linear1, layer.linear1), (block.ffn.linear2, layer.linear2),
                      (block.norm1, layer.norm1), (block.norm2, layer.norm2),
                      (block.norm3, layer.norm3))
        return block.train(layer.training)
