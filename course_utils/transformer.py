"""The Transformer (the notes' figure): an encoder stack and a decoder stack, post-norm as in the
notes and the original paper.

Encoder block (编码器模块)::

    x = LayerNorm(x + MultiHeadAttention(x, x, x))   residual (残差连接) + LayerNorm (层归一化)
    x = LayerNorm(x + FFN(x)),   FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂

Decoder block (解码器模块)::

    x = LayerNorm(x + MaskedMultiHeadAttention(x, x, x))     masked self-attention: no peeking
    x = LayerNorm(x + MultiHeadAttention(x, memory, memory))  cross-attention to the encoder
    x = LayerNorm(x + FFN(x))

Built from the course's own :class:`~course_utils.attention.MultiHeadAttention`;
``EncoderBlock.from_torch`` / ``DecoderBlock.from_torch`` copy a
``torch.nn.TransformerEncoderLayer`` / ``torch.nn.TransformerDecoderLayer`` (``batch_first=True,
norm_first=False, activation="relu"``), whose output they then equal in eval mode.

:class:`Transformer` puts them together for chapter 02's translation task, with the calling
conventions of :class:`~course_utils.seq2seq.Seq2Seq` (``forward(batch)``, ``loss(batch)``), and
decodes greedily with or without a key/value cache (:class:`LayerCache`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from . import set_seed
from .attention import MultiHeadAttention
from .checks import float_tensor, positive_int, probability
from .positional import sinusoidal_encoding
from .seq2seq import Translation
from .training import train, warmup_then_decay
from .translation import Batch, make_batch

__all__ = ["FeedForward", "EncoderBlock", "causal_mask", "DecoderBlock", "LayerCache",
           "Transformer", "warmup_then_decay", "train_transformer"]


def _is_relu(activation: object) -> bool:
    return activation is torch.nn.functional.relu or isinstance(activation, nn.ReLU)


def _check_torch_layer(layer: object, kind: type[nn.Module]) -> None:
    """The PyTorch layers a block can copy: ``kind``, post-norm, batch first, ReLU."""
    if not isinstance(layer, kind):
        raise TypeError(f"layer must be a torch.nn.{kind.__name__}, got {type(layer).__name__}")
    if layer.norm_first:
        raise ValueError("only post-norm layers (norm_first=False) match the notes' block")
    if not layer.self_attn.batch_first:
        raise ValueError("build the layer with batch_first=True")
    if not _is_relu(layer.activation):
        raise ValueError(f"only activation='relu' is supported, got {layer.activation!r}")


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


class FeedForward(nn.Module):
    """The position-wise 2-layer network: ``(..., d_model)`` → ``(..., d_model)``,
    FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂ with a hidden width ``d_ff``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        positive_int("d_model", d_model)
        positive_int("d_ff", d_ff)
        probability("dropout", dropout)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))


class EncoderBlock(nn.Module):
    """One encoder block: self-attention and a feed-forward network, each wrapped in a
    residual connection and a LayerNorm (post-norm).

    Args:
        d_model: width of the tokens; num_heads: heads of the attention (d_model % num_heads
            must be 0); d_ff: hidden width of the FFN; dropout: after the attention and the FFN
            and inside the FFN, as in PyTorch's layer (which also drops attention weights,
            which this block does not); 0 in this course, so the two agree in training too.

    ``forward(x (batch, n, d_model), mask=None)`` → ``(output (batch, n, d_model), weights
    (batch, num_heads, n, n))``; ``mask`` bool, True = may attend, broadcastable to
    ``(batch, num_heads, n, n)`` (e.g. ``(batch, 1, 1, n)`` for padding, ``(n, n)`` causal).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        _check_block_args(d_model, num_heads, d_ff, dropout)
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm2 = nn.LayerNorm(d_model)
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
        ``batch_first=True, norm_first=False, activation="relu"``."""
        _check_torch_layer(layer, nn.TransformerEncoderLayer)
        d_model = layer.linear1.in_features
        block = cls(d_model, layer.self_attn.num_heads, layer.linear1.out_features,
                    layer.dropout.p).to(layer.linear1.weight.dtype)
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


def _check_sequence(name: str, x: object, d_model: int, n: str) -> Tensor:
    x = float_tensor(name, x, 3, f"(batch, {n}, {d_model})")
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (batch, {n}, {d_model}); got {tuple(x.shape)}")
    return x


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
        memory = _check_sequence("memory", memory, self.d_model, "n")
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
        x_t = _check_sequence("x_t", x_t, self.d_model, "1")
        if x_t.shape[1] != 1:
            raise ValueError(f"x_t must hold one position, shape (batch, 1, {self.d_model}); "
                             f"got {tuple(x_t.shape)}")
        self._check_cache(cache, x_t.shape[0])
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
        x = _check_sequence("x", x, d, n_x)
        memory = _check_sequence("memory", memory, d, "n")
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


# =========================================================================== the Transformer
class Transformer(nn.Module):
    """Encoder-decoder Transformer for translation, with chapter 02's calling conventions.

    source tokens → embedding · √d_model + PE → ``num_layers`` × :class:`EncoderBlock` → memory;
    target tokens (shifted right: ``<bos>`` + target) → embedding · √d_model + PE →
    ``num_layers`` × :class:`DecoderBlock` (causal self-attention, cross-attention to the
    memory) → Linear → logits over the target vocabulary.

    Args:
        source_vocab, target_vocab: vocabulary sizes (id 0 is ``<pad>``, whose embedding is 0).
        d_model: width of every token (even: the sinusoidal encoding pairs its columns);
        num_heads: heads of every attention; d_ff: hidden width of the FFNs;
        num_layers: blocks in each stack; max_length: longest source or target the positional
            encoding covers; dropout: on the embeddings and inside every block.

    Embeddings start at N(0, 1/d_model), so that scaled by √d_model their entries have
    variance 1, the size of the positional encoding's (as in the paper, where they are shared
    with the output layer).

    Calling conventions (those of :class:`~course_utils.seq2seq.Seq2Seq`):
    ``forward(batch)`` → ``(logits (batch, m, target_vocab), weights (batch, m, n))`` under
    teacher forcing, ``weights`` = the last decoder block's cross-attention averaged over its
    heads; ``loss(batch)``; :meth:`translate` (greedy), which
    :func:`~course_utils.seq2seq.greedy_decode` and ``evaluate_by_length`` call.
    """

    def __init__(self, source_vocab: int, target_vocab: int, d_model: int = 64,
                 num_heads: int = 4, d_ff: int = 128, num_layers: int = 2,
                 max_length: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        for name, value in (("source_vocab", source_vocab), ("target_vocab", target_vocab),
                            ("d_model", d_model), ("num_heads", num_heads), ("d_ff", d_ff),
                            ("num_layers", num_layers), ("max_length", max_length)):
            positive_int(name, value)
        probability("dropout", dropout)
        self.d_model, self.max_length = d_model, max_length
        self.source_embed = nn.Embedding(source_vocab, d_model, padding_idx=0)
        self.target_embed = nn.Embedding(target_vocab, d_model, padding_idx=0)
        for embed in (self.source_embed, self.target_embed):
            nn.init.normal_(embed.weight, std=d_model ** -0.5)
            with torch.no_grad():
                embed.weight[0].zero_()  # <pad>
        # PE (max_length, d_model): a buffer, so .to() and .double() move it with the weights.
        self.register_buffer("positions", sinusoidal_encoding(max_length, d_model),
                             persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, num_heads, d_ff, dropout)
                                     for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff, dropout)
                                     for _ in range(num_layers))
        self.out = nn.Linear(d_model, target_vocab)

    # ------------------------------------------------------------------------ the pieces
    def embed(self, tokens: Tensor, table: nn.Embedding, start: int = 0) -> Tensor:
        """``tokens (batch, k)`` at positions start … start + k − 1 → ``(batch, k, d_model)``
        = embedding · √d_model + PE[position]."""
        k = tokens.shape[1]
        self._check_start(start, k)
        scaled = table(tokens) * math.sqrt(self.d_model)  # embedding · √d_model
        return self.dropout(scaled + self.positions[start:start + k])  # + PE

    def encode(self, source: Tensor, source_mask: Tensor) -> Tensor:
        """``source (batch, n)`` ids, ``source_mask (batch, n)`` bool (True = a real token) →
        memory ``(batch, n, d_model)``, what the decoder attends to."""
        self._check_tokens("source", source, self.source_embed.num_embeddings)
        self._check_source_mask(source_mask, source.shape)
        mask = source_mask[:, None, None, :]  # (batch, 1, 1, n): attend to real tokens only
        x = self.embed(source, self.source_embed)
        for block in self.encoder:
            x, _ = block(x, mask)
        return x

    def decode(self, target_in: Tensor, memory: Tensor, source_mask: Tensor
               ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Run the decoder stack on a whole target prefix at once.

        Args:
            target_in: ``(batch, m)`` ids, ``<bos>`` + the target (shifted right).
            memory: ``(batch, n, d_model)`` from :meth:`encode`.
            source_mask: ``(batch, n)`` bool, True = a real source token.

        Returns:
            ``(logits (batch, m, target_vocab), self_weights, cross_weights)``: per decoder
            block, ``(batch, num_heads, m, m)`` and ``(batch, num_heads, m, n)``. Position t
            sees target positions 0 … t only (the causal mask), so logits[:, t] predicts
            target word t from ``<bos>`` and the words before it.
        """
        self._check_tokens("target_in", target_in, self.target_embed.num_embeddings)
        memory = _check_sequence("memory", memory, self.d_model, "n")
        self._check_source_mask(source_mask, memory.shape[:2])
        if target_in.shape[0] != memory.shape[0]:
            raise ValueError(f"target_in and memory must have the same batch size; got "
                             f"target_in {tuple(target_in.shape)} and memory "
                             f"{tuple(memory.shape)}")
        self_mask = causal_mask(target_in.shape[1], target_in.device)  # (m, m): no peeking
        memory_mask = source_mask[:, None, None, :]  # (batch, 1, 1, n): not the padding
        x = self.embed(target_in, self.target_embed)
        self_weights, cross_weights = [], []
        for block in self.decoder:
            x, attended_self, attended_memory = block(x, memory, self_mask, memory_mask)
            self_weights.append(attended_self)
            cross_weights.append(attended_memory)
        return self.out(x), self_weights, cross_weights

    # --------------------------------------------------------------- chapter 02's interface
    def forward(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Teacher forcing: ``batch.target_in`` (``<bos>`` + target) in, the next words'
        ``logits (batch, m, target_vocab)`` and the last block's cross-attention averaged over
        heads ``weights (batch, m, n)`` out."""
        if not isinstance(batch, Batch):
            raise TypeError(f"batch must be a course_utils.translation.Batch, got "
                            f"{type(batch).__name__}")
        memory = self.encode(batch.source, batch.source_mask)
        logits, _, cross_weights = self.decode(batch.target_in, memory, batch.source_mask)
        return logits, cross_weights[-1].mean(dim=1)

    def loss(self, batch: Batch) -> Tensor:
        """Cross-entropy of the next word under teacher forcing, ignoring padding."""
        logits, _ = self(batch)
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(),
                                           ignore_index=0)

    @torch.no_grad()
    def translate(self, source: Tensor, source_mask: Tensor, max_length: int, bos_id: int = 1,
                  eos_id: int = 2, use_cache: bool = True) -> Translation:
        """Greedy decoding, as :func:`~course_utils.seq2seq.decode_greedy`: feed ``<bos>``,
        take the most likely word, feed it back; ``<pad>`` (0) after a sentence's ``<eos>``;
        stop when every sentence has ended or after ``max_length`` words.

        With ``use_cache`` every step runs only the new position through the decoder, reading
        the earlier positions' keys and values from a :class:`LayerCache` per block; without,
        every step runs :meth:`decode` on the whole prefix again. Both give the same words.

        Runs in the module's current mode (call ``.eval()`` first when dropout > 0;
        ``greedy_decode`` does).

        Args:
            source: ``(batch, n)`` ids; source_mask: ``(batch, n)`` bool, True = real token.
            max_length: most words to produce (at most the model's ``max_length``).
            bos_id, eos_id: the start and end tokens (an ``eos_id`` that is never produced,
                e.g. −1, decodes exactly ``max_length`` words).

        Returns:
            :class:`~course_utils.seq2seq.Translation` with ``tokens (batch, steps)``,
            ``weights (batch, steps, n)`` (the last block's cross-attention, averaged over
            heads) and ``logits (batch, steps, target_vocab)`` of every step.
        """
        positive_int("max_length", max_length)
        if max_length > self.max_length:
            raise ValueError(f"max_length = {max_length} exceeds the {self.max_length} positions "
                             "of the model's positional encoding")
        vocab = self.target_embed.num_embeddings
        if isinstance(bos_id, bool) or not isinstance(bos_id, int) or not 0 <= bos_id < vocab:
            raise ValueError(f"bos_id must be a token id in [0, {vocab}), got {bos_id!r}")
        memory = self.encode(source, source_mask)
        step = (self._step_with_cache if use_cache else self._step_without_cache)(
            memory, source_mask)
        word = torch.full((source.shape[0],), bos_id, dtype=torch.long, device=source.device)
        done = torch.zeros(source.shape[0], dtype=torch.bool, device=source.device)
        tokens, weights, logits = [], [], []
        for _ in range(max_length):
            step_logits, alpha = step(word)
            word = step_logits.argmax(dim=-1).masked_fill(done, 0)  # <pad> after the end
            tokens.append(word)
            weights.append(alpha)
            logits.append(step_logits)
            done |= word == eos_id
            if done.all():
                break
        return Translation(torch.stack(tokens, dim=1), torch.stack(weights, dim=1),
                           torch.stack(logits, dim=1))

    def _step_with_cache(self, memory: Tensor, source_mask: Tensor
                         ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """A function: the previous word ``(batch,)`` → ``(logits (batch, vocab), weights
        (batch, n))`` of the next position, through each block's :meth:`DecoderBlock.step`."""
        caches = [block.start_cache(memory) for block in self.decoder]
        memory_mask = source_mask[:, None, None, :]

        def step(word: Tensor) -> tuple[Tensor, Tensor]:
            x = self.embed(word[:, None], self.target_embed, start=caches[0].length)
            for i, block in enumerate(self.decoder):
                x, _, cross_weights, caches[i] = block.step(x, caches[i], memory_mask)
            return self.out(x)[:, -1], cross_weights[:, :, -1].mean(dim=1)
        return step

    def _step_without_cache(self, memory: Tensor, source_mask: Tensor
                            ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """Like :meth:`_step_with_cache`, but recomputing the whole prefix every step."""
        prefix: list[Tensor] = []

        def step(word: Tensor) -> tuple[Tensor, Tensor]:
            prefix.append(word)
            logits, _, cross_weights = self.decode(torch.stack(prefix, dim=1), memory,
                                                   source_mask)
            return logits[:, -1], cross_weights[-1][:, :, -1].mean(dim=1)
        return step

    # ------------------------------------------------------------------------ checks
    def _check_tokens(self, name: str, tokens: object, vocab: int) -> None:
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long:
            got = tokens.dtype if isinstance(tokens, Tensor) else type(tokens).__name__
            raise TypeError(f"{name} must be a torch.long tensor of ids (batch, length), "
                            f"got {got}")
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"{name} must have shape (batch, length) with length ≥ 1; got "
                             f"{tuple(tokens.shape)}")
        if tokens.shape[1] > self.max_length:
            raise ValueError(f"{name} has {tokens.shape[1]} positions, more than the "
                             f"{self.max_length} of the model's positional encoding "
                             f"(max_length); got shape {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab):
            raise ValueError(f"{name} holds ids outside [0, {vocab}): min {tokens.min().item()}, "
                             f"max {tokens.max().item()}")

    def _check_start(self, start: object, k: int) -> None:
        if k > self.max_length:
            raise ValueError(f"tokens has {k} positions, more than the {self.max_length} of the "
                             f"model's positional encoding (max_length)")
        last = self.max_length - k  # positions start … start + k − 1 must be in the table
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= last:
            raise ValueError(f"start must be an int in [0, {last}] for {k} tokens: the "
                             f"positional encoding has max_length = {self.max_length} "
                             f"positions; got {start!r}")

    @staticmethod
    def _check_source_mask(source_mask: object, shape: torch.Size) -> None:
        if not isinstance(source_mask, Tensor) or source_mask.dtype != torch.bool:
            got = source_mask.dtype if isinstance(source_mask, Tensor) else type(
                source_mask).__name__
            raise TypeError(f"source_mask must be a bool tensor (True = a real token), got {got}")
        if source_mask.shape != shape:
            raise ValueError(f"source_mask must have shape {tuple(shape)} (batch, n), the "
                             f"source's; got {tuple(source_mask.shape)}")


# ============================================================================ training
def train_transformer(task, train_pairs, steps: int = 770, batch_size: int = 64,
                      lr: float = 3e-3, warmup: int | None = 100, seed: int = 0,
                      progress: bool = True, **config: int
                      ) -> tuple[Transformer, dict[str, list[float]]]:
    """Train a fresh :class:`Transformer` on random batches of ``train_pairs`` as chapter 02's
    ``train_translator`` trains an RNN (teacher forcing, Adam, gradients clipped to norm 1,
    batches drawn with ``random.Random(seed)``), with the learning rate warmed up over
    ``warmup`` steps and then decayed linearly (:func:`~course_utils.training.warmup_then_decay`;
    ``warmup=0``: decay only; ``warmup=None``: a constant rate). ``config`` goes to
    :class:`Transformer` (``d_model``, ``num_heads``, ``d_ff``, ``num_layers``). Returns the
    model (in eval mode) and the loss history. Chapter 10's checkpoints are trained with it,
    their settings chosen on the validation split (``tools/train_chapter10.py``)."""
    set_seed(seed)
    model = Transformer(len(task.source_vocab), len(task.target_vocab), **config)
    rng = random.Random(seed)
    history = train(model, lambda step: model.loss(make_batch(rng.sample(train_pairs, batch_size),
                                                              task)),
                    steps=steps, lr=lr, progress=progress, description="transformer",
                    max_grad_norm=1.0,
                    schedule=None if warmup is None else warmup_then_decay(steps, warmup))
    return model.eval(), history
