"""An RNN encoder-decoder for translation, with or without attention (the notes' Part I).

The notes' pipeline, one decoding step t:

1. the encoder has turned the source into hidden states h¹…hⁿ (``Encoder``);
2. the decoder's previous state z^{t-1} is the **query**; it is scored against every hⁱ
   (additive: vᵀ tanh(W_q z + W_k h), or dot product: z·h / √d);
3. softmax → weights α (they sum to 1 over the real source words; padding gets 0);
4. context c^t = Σᵢ αᵢ hⁱ;
5. z^t = GRU([embedding of the previous word; c^t], z^{t-1}); the next word comes from
   [z^t; c^t].

The keys' half of the additive score, W_k hⁱ, does not depend on the step: the decoding
loops (:func:`decode_teacher_forced`, :func:`decode_greedy`) compute it once per sentence
(``Decoder.project_keys``, Bahdanau et al.'s precomputed U_a h_j) and reuse it at every step.

With ``attention="none"`` the context is the same at every step: the encoder's last state,
the classic encoder-decoder whose whole source must squeeze through one vector.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..foundations.seeding import set_seed
from ..mechanisms.attention import (
    AdditiveAttention,
    context_vector,
    dot_product_scores,
    masked_softmax,
)
from .training import train, warmup_then_decay
from .translation import Batch, make_batch

__all__ = [
    "ATTENTION_KINDS", "Encoder", "Decoder", "Seq2Seq", "Translation", "greedy_decode",
    "decode_teacher_forced", "decode_greedy",
    "exact_and_token_accuracy", "evaluate_by_length", "train_translator",
]

ATTENTION_KINDS = ("none", "additive", "dot")


class Encoder(nn.Module):
    """Embedding → bidirectional GRU.

    ``forward(source (batch, n), source_mask (batch, n))`` → ``(states (batch, n, 2·hidden),
    final (batch, 2·hidden))``: hⁱ for every source word (zeros at padding), and the last
    states of both directions, concatenated.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.rnn = nn.GRU(embed_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, source: Tensor, source_mask: Tensor) -> tuple[Tensor, Tensor]:
        lengths = source_mask.sum(dim=1).cpu()
        if (lengths == 0).any():
            raise ValueError("every source sentence needs at least one word")
        packed = pack_padded_sequence(self.embed(source), lengths, batch_first=True,
                                      enforce_sorted=False)
        states, last = self.rnn(packed)  # last: (2 directions, batch, hidden)
        states, _ = pad_packed_sequence(states, batch_first=True,
                                        total_length=source.shape[1])
        return states, torch.cat([last[0], last[1]], dim=-1)


class Decoder(nn.Module):
    """A GRU decoder that reads a context vector at every step.

    Args:
        attention: ``"none"`` (context = the encoder's final state), ``"additive"``
            (Bahdanau) or ``"dot"`` (scaled dot product).
        key_size: width of an encoder state hⁱ; hidden_size: width of z (must equal key_size
            for dot-product attention).
    """

    def __init__(self, vocab_size: int, embed_size: int, key_size: int, hidden_size: int,
                 attention: str = "additive", attention_size: int = 64) -> None:
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if attention == "dot" and hidden_size != key_size:
            raise ValueError(f"dot-product attention needs hidden_size == key_size, got "
                             f"{hidden_size} and {key_size}")
        self.kind = attention
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.init_state = nn.Linear(key_size, hidden_size)  # z⁰ = tanh(W final)
        self.additive = (AdditiveAttention(hidden_size, key_size, attention_size)
                         if attention == "additive" else None)
        self.cell = nn.GRUCell(embed_size + key_size, hidden_size)
        self.out = nn.Linear(hidden_size + key_size, vocab_size)

    def initial_state(self, final: Tensor) -> Tensor:
        """z⁰ from the encoder's final state: ``(batch, key_size)`` → ``(batch, hidden)``."""
        return torch.tanh(self.init_state(final))

    def project_keys(self, states: Tensor) -> Tensor | None:
        """What the attention can compute from ``states (batch, n, key)`` alone, once per
        sentence: W_k hⁱ ``(batch, n, attention_size)`` for additive attention; None for the
        other kinds (dot-product attention uses the states themselves as keys)."""
        return self.additive.project_keys(states) if self.kind == "additive" else None

    def attend(self, z: Tensor, states: Tensor, source_mask: Tensor, final: Tensor,
               projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Context and weights for one step: z ``(batch, hidden)``, states ``(batch, n, key)``
        → c ``(batch, key)``, α ``(batch, n)`` (None without attention). ``projected_keys``:
        optional ``project_keys(states)``, computed once for all steps (the same result)."""
        if self.kind == "none":
            return final, None
        query = z.unsqueeze(1)  # (batch, 1, hidden): the decoder state asks
        mask = source_mask.unsqueeze(1)  # (batch, 1, n): True = a real word
        if self.kind == "additive":  # vᵀ tanh(W_q z + W_k h)
            c, alpha = self.additive(query, states, states, mask, projected_keys=projected_keys)
        else:
            alpha = masked_softmax(dot_product_scores(query, states), mask)  # z·h / √d
            c = context_vector(alpha, states)  # c = Σᵢ αᵢ hⁱ
        return c.squeeze(1), alpha.squeeze(1)

    def step(self, previous_word: Tensor, z: Tensor, states: Tensor, source_mask: Tensor,
             final: Tensor, projected_keys: Tensor | None = None
             ) -> tuple[Tensor, Tensor, Tensor | None]:
        """One decoding step → ``(logits (batch, vocab), z_new (batch, hidden), α or None)``;
        ``projected_keys`` as in :meth:`attend`."""
        c, alpha = self.attend(z, states, source_mask, final, projected_keys)
        z = self.cell(torch.cat([self.embed(previous_word), c], dim=-1), z)  # z^t
        return self.out(torch.cat([z, c], dim=-1)), z, alpha


@dataclass(frozen=True)
class Translation:
    """Output of :func:`greedy_decode`: ``tokens (batch, m)`` (``<eos>``/``<pad>`` after the
    end) and ``weights (batch, m, n)`` (zeros without attention); ``logits (batch, m, vocab)``
    of every step where the decoder keeps them (chapter 10's ``Transformer.translate``), else
    None."""

    tokens: Tensor
    weights: Tensor
    logits: Tensor | None = None


class Seq2Seq(nn.Module):
    """Encoder + decoder. ``forward(batch)`` runs with **teacher forcing**: the decoder reads
    the true previous word ``batch.target_in`` at every step; returns ``(logits (batch, m,
    vocab), weights (batch, m, n))``."""

    def __init__(self, source_vocab: int, target_vocab: int, attention: str = "additive",
                 embed_size: int = 32, hidden_size: int = 64, attention_size: int = 64) -> None:
        super().__init__()
        self.encoder = Encoder(source_vocab, embed_size, hidden_size)
        key = 2 * hidden_size
        self.decoder = Decoder(target_vocab, embed_size, key, key, attention, attention_size)

    @property
    def attention(self) -> str:
        return self.decoder.kind

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor]:
        states, final = self.encoder(batch.source, batch.source_mask)
        return decode_teacher_forced(self.decoder, states, final, batch.source_mask,
                                     batch.target_in)

    def loss(self, batch: Batch) -> Tensor:
        """Cross-entropy of the next word under teacher forcing, ignoring padding."""
        logits, _ = self(batch)
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(),
                                           ignore_index=0)


def decode_teacher_forced(decoder: Decoder, states: Tensor, final: Tensor, mask: Tensor,
                          target_in: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``decoder`` with **teacher forcing**: it reads the true previous word at every step.

    ``states (batch, n, key)`` are what it attends over (words, or image regions in chapter
    03), ``final (batch, key)`` their summary, ``mask (batch, n)`` True = may attend,
    ``target_in (batch, m)`` = ``<bos>`` + the target. Returns ``(logits (batch, m, vocab),
    weights (batch, m, n))`` (zero weights without attention). The keys are projected once
    (``decoder.project_keys``) and reused at every step.
    """
    z = decoder.initial_state(final)
    projected = decoder.project_keys(states)  # W_k hⁱ: once per sentence, not once per step
    logits, weights = [], []
    for t in range(target_in.shape[1]):
        step_logits, z, alpha = decoder.step(target_in[:, t], z, states, mask, final,
                                             projected_keys=projected)
        logits.append(step_logits)
        weights.append(alpha if alpha is not None else torch.zeros_like(mask, dtype=z.dtype))
    return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


@torch.no_grad()
def decode_greedy(decoder: Decoder, states: Tensor, final: Tensor, mask: Tensor,
                  max_length: int, bos_id: int = 1, eos_id: int = 2) -> Translation:
    """Decode with the model's **own** previous word at every step (no teacher forcing):
    take the most likely word, feed it back, stop at ``<eos>`` or ``max_length``.

    ``states (batch, n, key)``, ``final (batch, key)``, ``mask (batch, n)`` as in
    :func:`decode_teacher_forced` → :class:`Translation`. The keys are projected once, as
    there.
    """
    z = decoder.initial_state(final)
    projected = decoder.project_keys(states)  # W_k hⁱ: once per sentence, not once per step
    word = torch.full((states.shape[0],), bos_id, dtype=torch.long, device=states.device)
    done = torch.zeros(states.shape[0], dtype=torch.bool, device=states.device)
    tokens, weights = [], []
    for _ in range(max_length):
        logits, z, alpha = decoder.step(word, z, states, mask, final,
                                        projected_keys=projected)
        word = logits.argmax(dim=-1).masked_fill(done, 0)  # <pad> after the end
        tokens.append(word)
        weights.append(alpha if alpha is not None else torch.zeros_like(mask, dtype=z.dtype))
        done |= word == eos_id
        if done.all():
            break
    return Translation(torch.stack(tokens, dim=1), torch.stack(weights, dim=1))


@torch.no_grad()
def greedy_decode(model: nn.Module, source: Tensor, source_mask: Tensor, max_length: int,
                  bos_id: int = 1, eos_id: int = 2) -> Translation:
    """Translate greedily (see :func:`decode_greedy`), with the model in eval mode.

    ``model`` is a :class:`Seq2Seq`, or any model with its own ``translate(source,
    source_mask, max_length, bos_id, eos_id)`` method (chapter 10's
    :class:`~course_utils.worlds.translation_transformer.Transformer`), which is then called
    instead.
    ``source (batch, n)``, ``source_mask (batch, n)`` → :class:`Translation`.
    """
    model.eval()
    translate = getattr(model, "translate", None)
    if callable(translate):  # the model decodes itself (a Transformer, with its k/v cache)
        return translate(source, source_mask, max_length, bos_id=bos_id, eos_id=eos_id)
    states, final = model.encoder(source, source_mask)
    return decode_greedy(model.decoder, states, final, source_mask, max_length, bos_id, eos_id)


def exact_and_token_accuracy(predicted: Sequence[Sequence[str]],
                             reference: Sequence[Sequence[str]]) -> tuple[float, float]:
    """Exact match (the whole sentence right) and token accuracy (position by position; a
    missing or an extra word counts as wrong: the total is the longer of the two lengths)."""
    if len(predicted) != len(reference) or not reference:
        raise ValueError("predicted and reference must be equally long and non-empty")
    exact = sum(list(p) == list(r) for p, r in zip(predicted, reference, strict=True))
    right = sum(sum(a == b for a, b in zip(p, r, strict=False))
                for p, r in zip(predicted, reference, strict=True))
    total = sum(max(len(p), len(r)) for p, r in zip(predicted, reference, strict=True))
    # total == 0 only when every sentence is empty on both sides: all of them match.
    return exact / len(reference), (right / total if total else 1.0)


def evaluate_by_length(model: nn.Module, task, pairs, buckets: Sequence[tuple[int, int]],
                       batch_size: int = 500) -> dict[str, tuple[float, float]]:
    """Exact match and token accuracy of greedy translations (:func:`greedy_decode`: a
    :class:`Seq2Seq` or a model with a ``translate`` method), per source-length bucket.

    Returns ``{"lo–hi": (exact, token)}`` for every bucket (inclusive bounds) that holds pairs.
    """
    results = {}
    for lo, hi in buckets:
        chosen = [p for p in pairs if lo <= len(p[0]) <= hi]
        if not chosen:
            continue
        predicted = []
        for start in range(0, len(chosen), batch_size):
            batch = make_batch(chosen[start:start + batch_size], task)
            out = greedy_decode(model, batch.source, batch.source_mask,
                                max_length=batch.target_out.shape[1] + 5)
            predicted += [task.target_vocab.decode(row) for row in out.tokens]
        results[f"{lo}–{hi}"] = exact_and_token_accuracy(predicted, [t for _, t in chosen])
    return results


def train_translator(attention: str, task, train_pairs, steps: int = 400, batch_size: int = 64,
                     lr: float = 3e-3, seed: int = 0, progress: bool = True,
                     warmup: int | None = None, **sizes: int
                     ) -> tuple[Seq2Seq, dict[str, list[float]]]:
    """Train a fresh :class:`Seq2Seq` with ``attention`` on random batches of ``train_pairs``
    (teacher forcing, Adam, gradients clipped to norm 1); ``sizes`` go to :class:`Seq2Seq`
    (``embed_size``, ``hidden_size``, ``attention_size``). The learning rate is constant
    (``warmup=None``, chapter 02's setting) or warmed up over ``warmup`` steps and then
    decayed linearly (:func:`~course_utils.worlds.training.warmup_then_decay`), as chapter 10 tunes
    it. Returns the model (in eval mode) and the loss history."""
    set_seed(seed)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), attention, **sizes)
    rng = random.Random(seed)
    history = train(model, lambda step: model.loss(make_batch(rng.sample(train_pairs, batch_size),
                                                              task)),
                    steps=steps, lr=lr, progress=progress, description=f"attention={attention}",
                    max_grad_norm=1.0,
                    schedule=None if warmup is None else warmup_then_decay(steps, warmup))
    return model, history
