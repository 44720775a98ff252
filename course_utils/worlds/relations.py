"""Chapter 05's experiment: a task with two kinds of relation, for heads to divide.

**The task** (:class:`PairsTask`). The vocabulary has 8 pairs of letters (``a``/``A``,
``b``/``B``, …). A sequence holds both members of 4 pairs, shuffled, and every letter carries
a random digit: ``c3 a7 D1 C0 d5 A2 …``. At every position the model must name two digits:

1. the digit of the **previous token** — a relation by *position* (look one step back);
2. the digit of the current letter's **partner** (at ``c3``: the digit of ``C``, here 0) — a
   relation by *content* (look for the matching letter, wherever it is).

A digit can only be read where it is, so each answer needs attention on the right token.

**The model** (:class:`RelationModel`): token + learned position embeddings → one
self-attention layer (:class:`course_utils.mechanisms.attention.MultiHeadAttention`) → two linear
readouts. With two heads, one can look back and the other look for the partner; with one
head, a single weighting must serve both.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..foundations.seeding import set_seed
from ..mechanisms.attention import MultiHeadAttention
from .training import train

__all__ = ["PAIRS", "SEQ_LEN", "TOKENS", "PairsTask", "PairsBatch", "RelationModel",
           "relation_accuracy", "train_relation_model"]

PAIRS = 8
SEQ_LEN = 8
TOKENS = [*string.ascii_lowercase[:PAIRS], *string.ascii_uppercase[:PAIRS]]  # i ↔ i + 8
IGNORE = -100  # position 0 has no previous token


DIGITS = 10


@dataclass(frozen=True)
class PairsBatch:
    """``tokens (batch, 8)`` letter ids and ``digits (batch, 8)``; ``partner_position (batch,
    8)`` where each token's partner is; the targets ``previous (batch, 8)`` = the digit at
    t − 1 (−100 at t = 0, ignored) and ``partner (batch, 8)`` = the partner's digit."""

    tokens: Tensor
    digits: Tensor
    partner_position: Tensor
    previous: Tensor
    partner: Tensor


class PairsTask:
    """Generator of sequences; ``batch(size, generator)`` is deterministic by the generator."""

    vocab_size = 2 * PAIRS

    @staticmethod
    def partner_of(token: Tensor) -> Tensor:
        """The partner's id: i ↔ i + 8."""
        return (token + PAIRS) % (2 * PAIRS)

    def batch(self, size: int, generator: torch.Generator) -> PairsBatch:
        pairs = torch.rand(size, PAIRS, generator=generator).argsort(dim=1)[:, :SEQ_LEN // 2]
        members = torch.cat([pairs, pairs + PAIRS], dim=1)  # (size, 8): both of each pair
        order = torch.rand(size, SEQ_LEN, generator=generator).argsort(dim=1)
        tokens = members.gather(1, order)  # shuffled
        digits = torch.randint(0, DIGITS, (size, SEQ_LEN), generator=generator)
        previous = torch.cat([torch.full((size, 1), IGNORE), digits[:, :-1]], dim=1)
        # where[b, t] = the position s with tokens[b, s] == partner_of(tokens[b, t])
        match = tokens.unsqueeze(1) == self.partner_of(tokens).unsqueeze(2)  # (size, t, s)
        where = match.float().argmax(dim=2)
        return PairsBatch(tokens, digits, where, previous, digits.gather(1, where))

    @staticmethod
    def text(tokens: Tensor, digits: Tensor) -> list[str]:
        """One sequence's tokens as strings, e.g. ``["c3", "a7", …]``."""
        return [f"{TOKENS[int(i)]}{int(d)}" for i, d in zip(tokens, digits, strict=True)]


class RelationModel(nn.Module):
    """Embeddings → one multi-head self-attention layer (+ residual) → two readouts.

    ``forward(tokens (batch, n), digits (batch, n))`` → ``(previous-digit logits (batch, n,
    10), partner-digit logits (batch, n, 10), weights (batch, heads, n, n))``.
    """

    def __init__(self, num_heads: int = 2, d_model: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(2 * PAIRS, d_model)
        self.embed_digit = nn.Embedding(DIGITS, d_model)
        self.position = nn.Parameter(0.5 * torch.randn(SEQ_LEN, d_model))
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.read_previous = nn.Linear(d_model, DIGITS)
        self.read_partner = nn.Linear(d_model, DIGITS)

    def forward(self, tokens: Tensor, digits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.embed(tokens) + self.embed_digit(digits) + self.position[:tokens.shape[1]]
        attended, weights = self.attention(x, x, x)  # self-attention: Q, K, V all from x
        h = x + attended  # residual: the token itself stays readable
        return self.read_previous(h), self.read_partner(h), weights

    def loss(self, batch: PairsBatch) -> Tensor:
        previous, partner, _ = self(batch.tokens, batch.digits)
        return (nn.functional.cross_entropy(previous.flatten(0, 1), batch.previous.flatten(),
                                            ignore_index=IGNORE)
                + nn.functional.cross_entropy(partner.flatten(0, 1), batch.partner.flatten()))


@torch.no_grad()
def relation_accuracy(model: RelationModel, batch: PairsBatch) -> dict[str, float]:
    """``{"previous", "partner"}``: the share of positions answered right (t ≥ 1 for
    ``previous``)."""
    model.eval()
    previous, partner, _ = model(batch.tokens, batch.digits)
    known = batch.previous != IGNORE
    return {"previous": (previous.argmax(-1) == batch.previous)[known].float().mean().item(),
            "partner": (partner.argmax(-1) == batch.partner).float().mean().item()}


def train_relation_model(num_heads: int, steps: int = 800, batch_size: int = 128,
                         lr: float = 3e-3, seed: int = 0, progress: bool = True,
                         d_model: int = 32) -> tuple[RelationModel, dict]:
    """Train a fresh :class:`RelationModel` on freshly drawn batches (Adam)."""
    set_seed(seed)
    model = RelationModel(num_heads, d_model)
    task, generator = PairsTask(), torch.Generator().manual_seed(seed)
    history = train(model, lambda step: model.loss(task.batch(batch_size, generator)),
                    steps=steps, lr=lr, progress=progress,
                    description=f"{num_heads} head{'s' * (num_heads > 1)}")
    return model, history
