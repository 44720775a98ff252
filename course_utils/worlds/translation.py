"""A toy translation task, generated in code: word-by-word mapping **and** reordering.

The source language has its own words; the target language translates every word through a
fixed lexicon **and reverses the word order**, so the first target word translates the *last*
source word. A model must therefore (a) learn the lexicon and (b) find, at every output step,
which source word to translate — an alignment that is an anti-diagonal.

Sentences have varying lengths; :meth:`ToyTranslation.split` gives disjoint train, validation
and test sets and a bucket of sentences *longer* than any seen in training. Settings (learning
rates, schedules) are chosen on the validation set; the test set is for reporting, once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PAD", "BOS", "EOS", "Vocab", "ToyTranslation", "Batch", "make_batch", "pad",
           "teacher_forcing_pair", "CHAPTER_SPLIT"]

# The split chapters 02 and 10 and their checkpoints use (tools/train_seq2seq.py,
# tools/train_chapter10.py). The validation sentences are drawn last, so that adding them left
# the training and test sets as they were.
CHAPTER_SPLIT = {"n_train": 20000, "n_test": 900, "train_lengths": (3, 30),
                 "long_lengths": (31, 40), "n_long": 300, "n_valid": 900, "seed": 0}

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"

_SOURCE_WORDS = ("ka lo mi nu pe ra si tu va xo be da fe gi ho ju ke ma no pi").split()
_TARGET_WORDS = ("red cat sun big run sea owl tea map cup box dog fig hat ink jam key log "
                 "net oak").split()


class Vocab:
    """Tokens ↔ ids. Ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``."""

    def __init__(self, words: Sequence[str]) -> None:
        self.itos = [PAD, BOS, EOS, *words]
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("vocabulary words must be unique and not special tokens")
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def bos_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    def encode(self, words: Sequence[str], eos: bool = True) -> list[int]:
        """Words → ids (with ``<eos>`` appended when ``eos``); an unknown word is a ValueError."""
        try:
            ids = [self.stoi[w] for w in words]
        except KeyError as exc:
            raise ValueError(f"unknown word {exc.args[0]!r}") from None
        return [*ids, self.eos_id] if eos else ids

    def decode(self, ids: Sequence[int] | Tensor) -> list[str]:
        """Ids → words, stopping at ``<eos>`` and skipping ``<pad>``/``<bos>``."""
        words = []
        for i in (ids.tolist() if isinstance(ids, Tensor) else ids):
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                words.append(self.itos[i])
        return words


class ToyTranslation:
    """The toy language pair. ``translate(source_words)`` is the ground truth.

    Args:
        seed: fixes the lexicon (a random one-to-one map of source to target words).
    """

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        targets = list(_TARGET_WORDS)
        rng.shuffle(targets)
        self.lexicon = dict(zip(_SOURCE_WORDS, targets, strict=True))
        self.source_vocab = Vocab(_SOURCE_WORDS)
        self.target_vocab = Vocab(_TARGET_WORDS)

    def translate(self, source: Sequence[str]) -> list[str]:
        """Map every word through the lexicon and reverse the order."""
        return [self.lexicon[w] for w in reversed(source)]

    def sentence(self, length: int, rng: random.Random) -> tuple[str, ...]:
        return tuple(rng.choice(_SOURCE_WORDS) for _ in range(length))

    def split(self, n_train: int = 20000, n_test: int = 1500, train_lengths=(3, 30),
              long_lengths=(31, 40), n_long: int = 300, n_valid: int = 0, seed: int = 0
              ) -> dict[str, list[tuple[tuple[str, ...], list[str]]]]:
        """Disjoint ``train``, ``valid`` (validation) and ``test`` sets with lengths in
        ``train_lengths`` (inclusive), and a ``long`` set with lengths in ``long_lengths``,
        longer than any training sentence. Each item is ``(source words, target words)``;
        lengths are uniform. ``valid`` is drawn last: ``n_valid`` does not change the others."""
        for name, count in (("n_train", n_train), ("n_test", n_test), ("n_long", n_long),
                            ("n_valid", n_valid)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"{name} must be an int >= 0, got {count!r}")
        lo, hi = train_lengths
        if not 1 <= lo <= hi < long_lengths[0] <= long_lengths[1]:
            raise ValueError(f"need 1 <= train_lengths <= long_lengths, got {train_lengths} "
                             f"and {long_lengths}")
        rng = random.Random(seed)
        seen: set[tuple[str, ...]] = set()

        def draw(n: int, lengths: tuple[int, int]) -> list:
            items, misses = [], 0
            while len(items) < n:
                source = self.sentence(rng.randint(*lengths), rng)
                if source in seen:  # keep the sets disjoint (and free of repeats)
                    misses += 1
                    if misses > 100 * n + 1000:
                        raise ValueError(f"cannot draw {n} new distinct sentences of "
                                         f"{lengths[0]}–{lengths[1]} words; ask for fewer")
                    continue
                seen.add(source)
                items.append((source, self.translate(source)))
            return items

        test = draw(n_test, train_lengths)
        long = draw(n_long, long_lengths)
        train = draw(n_train, train_lengths)
        valid = draw(n_valid, train_lengths)
        return {"train": train, "valid": valid, "test": test, "long": long}


@dataclass(frozen=True)
class Batch:
    """Padded tensors of a batch of pairs (batch first).

    ``source (batch, n)`` ids, ``source_mask (batch, n)`` bool, True = a real token (may be
    attended); ``target_in (batch, m)`` = ``<bos>`` + target (teacher forcing input);
    ``target_out (batch, m)`` = target + ``<eos>`` (what to predict), ``<pad>`` after it.
    """

    source: Tensor
    source_mask: Tensor
    target_in: Tensor
    target_out: Tensor

    @property
    def source_lengths(self) -> Tensor:
        return self.source_mask.sum(dim=1)


def pad(rows: Sequence[Sequence[int]]) -> Tensor:
    """Id lists of different lengths → ``(len(rows), longest)`` long tensor, 0 (``<pad>``)
    after each row's end."""
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def teacher_forcing_pair(sentences: Sequence[Sequence[str]], vocab: Vocab
                         ) -> tuple[Tensor, Tensor]:
    """What a decoder reads and what it must predict, for teacher forcing:
    ``(inputs (batch, m) = <bos> + words, outputs (batch, m) = words + <eos>)``, padded."""
    outputs = pad([vocab.encode(words, eos=True) for words in sentences])
    inputs = torch.cat([torch.full((len(sentences), 1), vocab.bos_id), outputs[:, :-1]], dim=1)
    return inputs.masked_fill(inputs == vocab.eos_id, vocab.pad_id), outputs


def make_batch(pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
               task: ToyTranslation) -> Batch:
    """Encode and pad a list of ``(source words, target words)`` pairs into a :class:`Batch`."""
    if not pairs:
        raise ValueError("make_batch needs at least one pair")
    source = pad([task.source_vocab.encode(s, eos=False) for s, _ in pairs])
    target_in, target_out = teacher_forcing_pair([t for _, t in pairs], task.target_vocab)
    return Batch(source, source != 0, target_in, target_out)
