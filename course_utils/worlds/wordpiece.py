"""WordPiece: how BERT-style models cut text into the tokens their embedding table knows.

A pretrained model only understands the ids it was trained on: feed it the same text cut
differently and it reads nonsense. So the tokenizer is part of the model, and chapter 11 writes
it out — short enough to read — and checks that it gives exactly the ids of the reference
(Hugging Face's ``tokenizers`` library reading the model's own ``tokenizer.json``).

Three steps, each a function of its own:

1. :func:`normalize` — clean the text (drop control characters, every whitespace becomes a
   space), put spaces around Chinese characters (each is a word of its own), strip accents
   (NFD, then drop the combining marks: "café" → "cafe"), lower-case.
2. :func:`pre_tokenize` — split into words on whitespace and around punctuation:
   "don't!" → ["don", "'", "t", "!"].
3. :func:`wordpiece` — cut each word into the longest pieces found in the vocabulary, left
   to right, the pieces after the first marked ``##``: "embeddings" → ["em", "##bed",
   "##ding", "##s"]. A word with a piece that nothing matches, or longer than 100 characters,
   becomes the unknown token ``[UNK]``.

:class:`WordPiece` holds the vocabulary (token → id) and puts the steps together; its
:meth:`WordPiece.encode` frames each sentence as ``[CLS] … [SEP]``, truncates and pads a batch.
The vocabulary is given to it (chapter 11 reads it from the model's ``tokenizer.json``, see
:mod:`course_utils.worlds.pretrained`); nothing here reads a file.

The character classes come from Python's :mod:`unicodedata` (Unicode 14 in Python 3.11), the
reference's from older tables (and newer ones for lower-casing): about 560 rare code points of
the 1.1 million — letters and marks added to Unicode since, a few whose category changed —
are cut differently. Every character of the scripts, digits, punctuation and emoji in common
use gives the reference's ids (``tests/test_wordpiece.py``).
"""

from __future__ import annotations

import json
import re
import unicodedata

import torch
from torch import Tensor

__all__ = ["SPECIAL_TOKENS", "MAX_WORD_CHARS", "clean_text", "is_chinese_char",
           "strip_accents", "normalize", "is_punctuation", "pre_tokenize", "wordpiece",
           "WordPiece"]

#: Tokens with a meaning of their own: padding, unknown, start, separator, the masked word.
#: Written in a text, each is kept whole (before any normalisation), as the reference does.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: A longer word is not cut into pieces: it becomes ``[UNK]`` at once.
MAX_WORD_CHARS = 100

_SPECIAL = re.compile("(" + "|".join(map(re.escape, SPECIAL_TOKENS)) + ")")
#: The CJK ideograph blocks (Unicode code points) that BERT treats as one word per character.
#: (As the reference has them: its fifth block starts at U+2B920, Google's BERT's at U+2B820.)
_CHINESE_BLOCKS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                   (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


# ======================================================================= step 1: normalize
def clean_text(text: str) -> str:
    """Drop NUL, U+FFFD (the replacement character) and the control, format and private-use
    characters (Unicode categories Cc, Cf, Co: "\\x07", a zero-width space; but tab, newline
    and carriage return are kept as whitespace); then every whitespace character becomes a
    plain space. ``str`` → ``str``."""
    kept = (ch for ch in text if ch in "\t\n\r" or not (
        ch in "\x00\ufffd" or unicodedata.category(ch) in ("Cc", "Cf", "Co")))
    return "".join(" " if ch.isspace() else ch for ch in kept)


def is_chinese_char(ch: str) -> bool:
    """Whether the character ``ch`` is a CJK ideograph (a word on its own for BERT)."""
    return any(low <= ord(ch) <= high for low, high in _CHINESE_BLOCKS)


def strip_accents(text: str) -> str:
    """Split each letter from its accents (NFD) and drop the accents (category Mn, the
    non-spacing marks): "Ångström" → "Angstrom". ``str`` → ``str``."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")


def normalize(text: str) -> str:
    """BERT's uncased normalisation: clean, space out Chinese characters, strip accents,
    lower-case. ``str`` → ``str``.

    Lower-casing goes one character at a time (as the reference does): "Σ" is always "σ",
    never the word-final "ς" of Python's ``str.lower``.
    """
    text = clean_text(text)
    text = "".join(f" {ch} " if is_chinese_char(ch) else ch for ch in text)
    text = strip_accents(text)
    return "".join(ch.lower() for ch in text)


# ==================================================================== step 2: pre-tokenize
def is_punctuation(ch: str) -> bool:
    """Unicode punctuation (categories P*) and every ASCII symbol that is not a letter or a
    digit (code points 33–47, 58–64, 91–96, 123–126: ``$ + < = > ^ ` | ~`` count too)."""
    code = ord(ch)
    ascii_symbol = 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
    return ascii_symbol or unicodedata.category(ch).startswith("P")


def pre_tokenize(text: str) -> list[str]:
    """Split normalised text into words: on whitespace (dropped) and around each punctuation
    character (kept as a word of its own): "don't!" → ["don", "'", "t", "!"].
    ``str`` → ``list[str]``."""
    words = []
    for chunk in text.split():
        word = ""
        for ch in chunk:
            if is_punctuation(ch):  # ends the word so far, and is a word itself
                words += [word, ch] if word else [ch]
                word = ""
            else:
                word += ch
        if word:
            words.append(word)
    return words


# ======================================================================= step 3: wordpiece
def wordpiece(word: str, vocab: dict[str, int] | set[str], unknown: str = "[UNK]"
              ) -> list[str]:
    """Greedy longest-match-first: the longest prefix of ``word`` in ``vocab``, then the
    longest ``##``-piece of the rest, and so on. ``str`` → ``list[str]``.

    A word longer than :data:`MAX_WORD_CHARS`, or with a rest that no piece starts, is
    ``[unknown]`` as a whole (not a partial cut).
    """
    if len(word) > MAX_WORD_CHARS:
        return [unknown]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # the longest candidate first
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                break
        else:
            return [unknown]  # nothing in the vocabulary starts the rest of the word
        pieces.append(piece)
        start = end
    return pieces


# ========================================================================= the tokenizer
class WordPiece:
    """A WordPiece tokenizer over ``vocab`` (token → id), with BERT's special tokens.

    ``tokens(text)`` → the pieces (``list[str]``, no ``[CLS]``/``[SEP]``); ``ids(text)`` →
    their ids; ``encode(sentences, max_length)`` → a padded batch ``(input_ids (batch, n)
    long, attention_mask (batch, n) bool)``, each row ``[CLS] … [SEP]``.
    """

    def __init__(self, vocab: dict[str, int]) -> None:
        if not isinstance(vocab, dict) or not vocab:
            raise TypeError(f"vocab must be a non-empty dict token → id, got "
                            f"{type(vocab).__name__}")
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"vocab lacks the special tokens {missing}")
        self.vocab = vocab
        self.inverse = {i: token for token, i in vocab.items()}

    @classmethod
    def from_tokenizer_json(cls, text: str | bytes) -> WordPiece:
        """The tokenizer of a Hugging Face ``tokenizer.json`` (its ``model.vocab``), which
        must describe a WordPiece model with BERT's normaliser (lower-cased)."""
        config = json.loads(text)
        model, normalizer = config.get("model") or {}, config.get("normalizer") or {}
        if model.get("type") != "WordPiece" or normalizer.get("type") != "BertNormalizer" or \
                not normalizer.get("lowercase"):
            raise ValueError(f"tokenizer.json describes a {model.get('type')} model with a "
                             f"{normalizer.get('type')} normaliser; this is an uncased "
                             f"BERT WordPiece tokenizer")
        return cls(model["vocab"])

    @property
    def pad_id(self) -> int:
        return self.vocab["[PAD]"]

    def tokens(self, text: str) -> list[str]:
        """``text`` → its WordPiece tokens: normalize, pre-tokenize, wordpiece; a special token
        written in the text (``[MASK]``) stays one token."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out = []
        for part in _SPECIAL.split(text):  # odd parts are the special tokens themselves
            if part in SPECIAL_TOKENS:
                out.append(part)
                continue
            for word in pre_tokenize(normalize(part)):
                out.extend(wordpiece(word, self.vocab))
        return out

    def ids(self, text: str) -> list[int]:
        """The ids of :meth:`tokens`."""
        return [self.vocab[token] for token in self.tokens(text)]

    def decode(self, ids: list[int] | Tensor) -> list[str]:
        """The tokens of ``ids`` (padding included), e.g. to label a heatmap's axes."""
        return [self.inverse[int(i)] for i in ids]

    def encode(self, sentences: list[str], max_length: int = 256) -> tuple[Tensor, Tensor]:
        """A batch: ``(input_ids (batch, n) long, attention_mask (batch, n) bool)``.

        Each sentence becomes ``[CLS] tokens [SEP]``, its tokens cut to ``max_length − 2`` so
        that ``[SEP]`` stays last; the rows are padded with ``[PAD]`` (id 0, mask False) to the
        longest, n ≤ ``max_length``. ``attention_mask`` is True on the real tokens.
        """
        _check_sentences(sentences)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int ≥ 2 (room for [CLS] and [SEP]), got "
                             f"{max_length!r}")
        cls_id, sep_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        rows = [[cls_id, *self.ids(s)[:max_length - 2], sep_id] for s in sentences]
        n = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros(len(rows), n, dtype=torch.bool)
        for i, row in enumerate(rows):
            input_ids[i, :len(row)] = torch.tensor(row)
            attention_mask[i, :len(row)] = True  # True = a real token
        return input_ids, attention_mask


def _check_sentences(sentences: object) -> None:
    if isinstance(sentences, str) or not isinstance(sentences, list | tuple):
        raise TypeError(f"sentences must be a list of str (wrap one sentence in a list), got "
                        f"{type(sentences).__name__}")
    if not sentences:
        raise ValueError("sentences is empty: give at least one sentence")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences[{i}] must be a str, got {type(s).__name__}")
