"""Chapter 11's exercises: WordPiece's greedy longest match, a sentence embedding by masked
mean pooling.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from .engine import (
    Exercise,
    close,
    generator,
    register,
    wrong_shape,
)

CHAPTER = "11_pretrained_transformer"

# A small vocabulary in which the usual mistakes give different cuts: the longest match
# ("una" + "##ff" + "##able") differs from the shortest ("un" + "##a" + "##ff" + …), and a
# piece looked up without its "##" (or with one on the first piece) finds something else.
_VOCAB = {"[UNK]": 0, "un": 1, "una": 2, "##ff": 3, "##able": 4, "##a": 5, "##b": 6,
          "##le": 7, "able": 8, "em": 9, "##bed": 10, "##ding": 11, "##s": 12, "##e": 13,
          "##d": 14, "bed": 15, "ding": 16, "s": 17, "att": 18, "##ention": 19, "##en": 20,
          "##tion": 21, "a": 22, "##att": 23, "ff": 24, "ention": 25, "cat": 26, "##cat": 27}


class _Vocab(dict):
    """The cases' vocabulary: a plain dict piece → id, shown short in the checker's messages."""

    def __repr__(self) -> str:
        return f"vocab of {len(self)} pieces ({', '.join(list(self)[:6])}, …)"


def _cut(word: str, vocab: dict[str, int], *, longest: bool = True, continuation: str = "##",
         first: str = "", partial: bool = False) -> list[int]:
    """WordPiece with the knobs of the typical mistakes: ``longest=False`` (shortest match
    first), ``continuation=""`` (no "##" on the later pieces), ``first="##"`` (a "##" on the
    first piece too), ``partial=True`` ([UNK] for the rest only, the pieces found kept)."""
    ids, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        for end in ends:
            piece = (continuation if start else first) + word[start:end]
            if piece in vocab:
                break
        else:
            return [*ids, vocab["[UNK]"]] if partial else [vocab["[UNK]"]]
        ids.append(vocab[piece])
        start = end
    return ids


def _wordpiece_cases() -> Iterator[tuple]:
    for word in ("attention", "unaffable", "embeddings", "a", "cat", "attentionz", "catx",
                 "unaffables"):
        yield word, _Vocab(_VOCAB)


def _wordpiece_reference(word: str, vocab: dict[str, int]) -> Tensor:
    return torch.tensor(_cut(word, vocab), dtype=torch.long)


def _wordpiece_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    word, vocab = args
    if torch.equal(got, expected):
        return None
    got_ids = got.flatten().tolist()
    names = {i: t for t, i in vocab.items()}
    shown = [names.get(i, f"id {i}") for i in got_ids]
    mistakes: list[tuple[dict, str]] = [
        ({"longest": False}, "you took the shortest piece that matches; WordPiece takes the "
                             "LONGEST: try the end of the word first and shorten it"),
        ({"continuation": ""}, "a piece after the first is looked up without its \"##\": "
                               "a piece that continues a word is \"##\" + the characters"),
        ({"first": "##"}, "the first piece got \"##\" too: only the pieces that continue a "
                          "word are marked, the first one is looked up as it is"),
        ({"partial": True}, "when no piece fits the rest, the WHOLE word is unknown: return "
                            "[vocab[\"[UNK]\"]] alone, not the pieces found so far + [UNK]"),
    ]
    for knobs, message in mistakes:
        wrong = _cut(word, vocab, **knobs)
        if got_ids == wrong and wrong != expected.tolist():
            return f"{message} (you gave {shown} for {word!r})"
    shorter = 0 < got.numel() < expected.numel()
    if shorter and got_ids == expected.tolist()[:got.numel()]:
        return (f"you stopped after {got.numel()} piece(s) ({shown}): go on until the whole "
                f"word is used (start = end, then look again)")
    return None


def _wordpiece_shape(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    if got.dim() != 1:
        return (f"return a 1-d tensor of ids, shape (pieces,), e.g. torch.tensor(ids); got "
                f"shape {tuple(got.shape)}")
    return None


def _pool_cases() -> Iterator[tuple]:
    # (hidden, mask): padding of several lengths, a row without padding, d ≠ n ≠ batch.
    for seed, (batch, n, d, lengths) in enumerate([(2, 5, 3, (5, 2)), (3, 4, 6, (1, 4, 3)),
                                                   (1, 6, 4, (6,)), (4, 7, 5, (7, 3, 5, 1))]):
        g = generator(1100 + seed)
        hidden = torch.randn(batch, n, d, generator=g) + 0.5
        padding = torch.arange(n)[None, :, None] >= torch.tensor(lengths)[:, None, None]
        hidden = hidden + 3.0 * padding                  # padding far off: averaging it in shows
        mask = torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]
        yield hidden, mask


def _pool_reference(hidden: Tensor, mask: Tensor) -> Tensor:
    m = mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * m).sum(1) / m.sum(1)
    return mean / mean.norm(dim=-1, keepdim=True)


def _pool_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    hidden, mask = args
    if got.shape != expected.shape or close(got, expected):
        return None
    m = mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * m).sum(1) / m.sum(1)
    candidates: list[tuple[Callable[[], Tensor], str]] = [
        (lambda: F.normalize(hidden.mean(1), dim=-1),
         "the padding was averaged in: hidden.mean(1) counts every position; multiply by the "
         "mask and divide by the number of REAL tokens, mask.sum(1)"),
        (lambda: mean,
         "this is the mean, not yet divided by its length: the embedding has unit length "
         "(mean / mean.norm(dim=-1, keepdim=True)), so that a dot product is a cosine"),
        (lambda: F.normalize(hidden[:, 0], dim=-1),
         "this is the first token ([CLS]) alone: this model's sentence vector is the mean of "
         "all real tokens"),
        (lambda: F.normalize((hidden * m).sum(1), dim=0),
         "the norm was taken over the batch (dim=0): divide each sentence's vector by its own "
         "length, norm(dim=-1, keepdim=True)"),
        (lambda: mean / mean.norm(dim=0, keepdim=True),
         "the norm was taken over the batch (dim=0): divide each sentence's vector by its own "
         "length, norm(dim=-1, keepdim=True)"),
        (lambda: mean / mean.norm(),
         "the whole batch was divided by one norm: divide each sentence's vector by its own "
         "length, norm(dim=-1, keepdim=True)"),
        (lambda: F.normalize(hidden.masked_fill(~mask[..., None], -torch.inf).amax(1), dim=-1),
         "this is max pooling (the largest value of each feature): the model's sentence vector "
         "is the mean over the real tokens"),
    ]
    for mistake, message in candidates:
        if close(got, mistake()):
            return message
    inverted = (~mask).to(hidden.dtype).unsqueeze(-1)
    if (inverted.sum(1) > 0).all() and close(got, F.normalize(
            (hidden * inverted).sum(1) / inverted.sum(1), dim=-1)):
        return ("the mean is over the padding: True in the mask marks the REAL tokens, the "
                "ones to keep")
    return None


def _pool_nan(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    hidden, mask = args
    full, nan = mask.all(dim=-1), torch.isnan(got)
    if full.any() and nan[full].all() and not nan[~full].any():
        return ("NaN on every sentence without padding: the mask is inverted (0/0 where no "
                "position is False). True in the mask marks the REAL tokens, the ones to keep")
    return None


register(
    CHAPTER,
    Exercise(
        name="wordpiece_ids",
        signature="wordpiece_ids(word: str, vocab: dict[str, int]) -> (pieces,) torch.long",
        reference=_wordpiece_reference,
        cases=_wordpiece_cases,
        diagnoses=[_wordpiece_shape, _wordpiece_mistakes, wrong_shape],
        shape_hints=[_wordpiece_shape],
        error_hints=[("KeyError", "look a piece up only once you know it is in vocab "
                                  "(piece in vocab); the unknown word's id is vocab[\"[UNK]\"]"),
                     ("string index out of range", "the pieces are word[start:end], with "
                                                   "start < end ≤ len(word)")],
    ),
    Exercise(
        name="sentence_embedding",
        signature="sentence_embedding(hidden (batch, n, d), mask (batch, n) bool) -> (batch, d)",
        reference=_pool_reference,
        cases=_pool_cases,
        diagnoses=[wrong_shape, _pool_mistakes],
        nan_hints=[_pool_nan],
        keeps_inputs=True,
    ),
)
