"""The whole Transformer for chapter 02's translation task, and its trainer (chapter 10).

source tokens → embedding · √d_model + PE → encoder blocks → memory; target tokens (shifted
right) → embedding · √d_model + PE → decoder blocks → Linear → logits. The blocks are the
mechanisms of :mod:`course_utils.mechanisms.transformer`; this module adds chapter 02's world:
its batches (:class:`~course_utils.worlds.translation.Batch`), the calling conventions of
:class:`~course_utils.worlds.seq2seq.Seq2Seq` (``forward(batch)``, ``loss(batch)``), greedy
decoding with or without a key/value cache, and :func:`train_transformer`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..foundations.checks import float_sequence, positive_int, probability
from ..foundations.seeding import set_seed
from ..mechanisms.positional import sinusoidal_encoding
from ..mechanisms.transformer import DecoderBlock, EncoderBlock, causal_mask
from .seq2seq import Translation
from .training import train, warmup_then_decay
from .translation import Batch, make_batch

__all__ = ["Transformer", "train_transformer"]


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

    Calling conventions (those of :class:`~course_utils.worlds.seq2seq.Seq2Seq`):
    ``forward(batch)`` → ``(logits (batch, m, target_vocab), weights (batch, m, n))`` under
    teacher forcing, ``weights`` = the last decoder block's cross-attention averaged over its
    heads; ``loss(batch)``; :meth:`translate` (greedy), which
    :func:`~course_utils.worlds.seq2seq.greedy_decode` and ``evaluate_by_length`` call.
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
        memory = float_sequence("memory", memory, self.d_model, "n")
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
        """Greedy decoding, as :func:`~course_utils.worlds.seq2seq.decode_greedy`: feed ``<bos>``,
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
            :class:`~course_utils.worlds.seq2seq.Translation` with ``tokens (batch, steps)``,
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
    ``warmup`` steps and then decayed linearly
    (:func:`~course_utils.worlds.training.warmup_then_decay`;
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
