"""course_utils.worlds.wordpiece: the course's own WordPiece tokenizer, step by step on hand
examples, then against the reference — Hugging Face's ``tokenizers`` reading the same
``tokenizer.json`` from the model package (the ids must be the same, unpadded per sentence and
as a padded, truncated batch) — and its errors."""

from __future__ import annotations

import random

import pytest
import tokenizers
import torch

from course_utils.worlds.pretrained import load_tokenizer, package_file
from course_utils.worlds.wordpiece import (
    MAX_WORD_CHARS,
    WordPiece,
    clean_text,
    is_chinese_char,
    is_punctuation,
    normalize,
    pre_tokenize,
    strip_accents,
    wordpiece,
)

LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3  # 135 characters
#: Sentences the reference must cut exactly as ours does.
CORPUS = [
    "Attention is all you need.",
    "Hello, world! Don't stop: (really) — \"quotes\" & 'apostrophes'?",
    "café naïve Ångström façade jalapeño Zürich São Paulo Ærøskøbing",
    "注意力机制 is 注意力 + 机制; 東京 and 北京",
    "π ≈ 3.14, e = 2.718; 1,000 people paid $5.99 (50% off) at 10:30 on 2024-01-02",
    "emoji 😀👍🏽 🇨🇳 ❤️ and ☃",
    "",
    "   ",
    "\t\n\r \u00a0\u2003\u3000",
    "tabs\tand\nnewlines\r\nand\u2028separators",
    "control\x00chars\x07in\x1b[31mtext\ufffd and a zero\u200bwidth space, soft\u00adhyphen",
    "private \ue000 use, unassigned \u0378 char",
    "a" * 100,
    "b" * 101,
    LONG_WORD,
    "unbelievably transformers' embeddings tokenization WordPiece",
    "ΟΔΟΣ Σίσυφος İstanbul ÉCOLE straße ﬁne",
    "Привет, мир! Ελληνικά, العربية, हिन्दी, 한국어, ไทย",
    "snake_case kebab-case CamelCase dotted.name x+y=z a|b ~tilde `tick` ^caret <tag>",
    "[CLS] in text, [MASK] too, [SEP][PAD] and [UNK]; but [mask] is lower case",
    "«guillemets» „quotes“ ‹single› 『brackets』【black】…ellipsis—dash–en",
    "１２３ full-width ＡＢＣ and ½ ² ⅓ superscripts",
]


@pytest.fixture(scope="module")
def reference() -> tokenizers.Tokenizer:
    """The reference tokenizer, from the same checked tokenizer.json, without the file's own
    padding and truncation (each test sets what it needs)."""
    tokenizer = tokenizers.Tokenizer.from_str(package_file("tokenizer.json").decode())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def ours() -> WordPiece:
    return load_tokenizer()


def reference_ids(reference: tokenizers.Tokenizer, text: str) -> list[int]:
    return reference.encode(text, add_special_tokens=False).ids


# ========================================================================== the steps by hand
def test_clean_text_drops_controls_and_unifies_whitespace():
    assert clean_text("a\x00b\x07c\ufffdd\u200be") == "abcde"
    assert clean_text("a\tb\nc\rd\u00a0e\u3000f") == "a b c d e f"
    assert clean_text("private\ue000use") == "privateuse"


def test_chinese_characters_are_spaced_out():
    assert is_chinese_char("注") and is_chinese_char("機") and not is_chinese_char("a")
    assert not is_chinese_char("한") and not is_chinese_char("あ")  # Hangul, kana: not CJK
    assert normalize("注意力ok") == " 注  意  力 ok"


def test_strip_accents_and_lower_case():
    assert strip_accents("café Ångström naïve") == "cafe Angstrom naive"
    assert normalize("Café ÅNGSTRÖM") == "cafe angstrom"
    # Lower-cased one character at a time: a final capital sigma is σ, not Python's ς.
    assert normalize("ΟΔΟΣ") == "οδοσ" != "ΟΔΟΣ".lower()


@pytest.mark.parametrize("ch", list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["¿", "、", "—", "«"])
def test_punctuation_includes_ascii_symbols(ch):
    assert is_punctuation(ch)


@pytest.mark.parametrize("ch", ["a", "Z", "0", " ", "é", "注", "😀", "≈"])
def test_letters_digits_and_symbols_are_not_punctuation(ch):
    assert not is_punctuation(ch)


def test_pre_tokenize_splits_on_whitespace_and_around_punctuation():
    assert pre_tokenize("don't stop!  (now)") == ["don", "'", "t", "stop", "!", "(", "now", ")"]
    assert pre_tokenize("3.14 1,000") == ["3", ".", "14", "1", ",", "000"]
    assert pre_tokenize("") == [] and pre_tokenize("   ") == []
    assert pre_tokenize("...") == [".", ".", "."]


def test_wordpiece_greedy_longest_match_first():
    vocab = {"un", "##aff", "##able", "##a", "##ff", "a", "##b"}
    assert wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]  # not un ##a ##ff …
    assert wordpiece("unab", vocab) == ["un", "##a", "##b"]
    assert wordpiece("unx", vocab) == ["[UNK]"]  # a rest that nothing starts: the whole word
    assert wordpiece("x", vocab, unknown="<unk>") == ["<unk>"]
    assert wordpiece("", vocab) == []


def test_long_words_are_unknown(ours):
    assert ours.tokens("a" * MAX_WORD_CHARS) != ["[UNK]"]
    assert ours.tokens("a" * (MAX_WORD_CHARS + 1)) == ["[UNK]"]


def test_tokens_of_a_sentence(ours):
    assert ours.tokens("Attention, café!") == ["attention", ",", "cafe", "!"]
    assert ours.tokens("tokenization") == ["token", "##ization"]
    assert ours.tokens("a [MASK] b") == ["a", "[MASK]", "b"]
    assert ours.decode(ours.ids("hello world")) == ["hello", "world"]


# ============================================================================= the reference
@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_same_ids_as_the_reference(reference, ours, text):
    expected = reference.encode(text, add_special_tokens=False)
    assert ours.tokens(text) == expected.tokens
    assert ours.ids(text) == expected.ids


def test_same_ids_on_random_text_from_common_scripts(reference, ours):
    """Random strings over the blocks in common use (ASCII and its controls, Latin, Greek,
    Cyrillic, combining accents, general punctuation, CJK, kana, Hangul, Arabic, Devanagari,
    emoji): the same ids. Rare code points whose Unicode properties changed since the
    reference's tables are left out (see the module's docstring)."""
    blocks = [(0x00, 0x7F), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
              (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
              (0x600, 0x6FF), (0x900, 0x97F), (0x1F300, 0x1F64F), (0xFF00, 0xFFEF)]
    rng = random.Random(0)
    texts = ["".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(0, 40)))
             for _ in range(3000)]
    texts = [t for t in texts if "\u061d" not in t]  # U+061D: new in Unicode 14
    differ = [t for t in texts if ours.ids(t) != reference_ids(reference, t)]
    assert not differ, f"{len(differ)} of {len(texts)} differ, e.g. {differ[:3]!r}"


LONG_TEXT = " ".join(["The quick brown fox, naïvely, jumps over the lazy dog's 注意."] * 80)


@pytest.mark.parametrize("max_length", [2, 3, 8, 16, 256, 512])
def test_padded_truncated_batch_as_the_reference(reference, ours, max_length):
    """encode = the reference with truncation at max_length and padding to the longest:
    [CLS] … [SEP] with [SEP] kept last, pad id 0, mask True on the real tokens."""
    sentences = [*CORPUS, LONG_TEXT, "x " * 600]
    reference.enable_truncation(max_length)
    reference.enable_padding(pad_id=0, pad_token="[PAD]")
    try:
        expected = reference.encode_batch(sentences)
    finally:
        reference.no_truncation()
        reference.no_padding()
    input_ids, attention_mask = ours.encode(sentences, max_length)
    assert input_ids.dtype == torch.long and attention_mask.dtype == torch.bool
    assert input_ids.shape == attention_mask.shape == (len(sentences), len(expected[0].ids))
    assert input_ids.tolist() == [e.ids for e in expected]
    assert attention_mask.long().tolist() == [e.attention_mask for e in expected]
    lengths = attention_mask.sum(1)
    assert lengths.max() <= max_length
    assert (input_ids[:, 0] == 101).all()  # [CLS]
    assert (input_ids[torch.arange(len(sentences)), lengths - 1] == 102).all()  # [SEP] last
    assert (input_ids[~attention_mask] == 0).all()


# ================================================================================ bad input
@pytest.mark.parametrize(("sentences", "error", "match"), [
    ([], ValueError, "sentences is empty"),
    ("one sentence", TypeError, "sentences must be a list of str"),
    (None, TypeError, "sentences must be a list of str"),
    (["ok", 3], TypeError, r"sentences\[1\] must be a str"),
])
def test_bad_sentences_are_named(ours, sentences, error, match):
    with pytest.raises(error, match=match):
        ours.encode(sentences)


@pytest.mark.parametrize("max_length", [1, 0, -5, 2.5, "8", True])
def test_bad_max_length_is_named(ours, max_length):
    with pytest.raises(ValueError, match="max_length must be an int ≥ 2"):
        ours.encode(["hello"], max_length)


def test_tokens_refuse_a_non_string(ours):
    with pytest.raises(TypeError, match="text must be a str"):
        ours.tokens(b"bytes")


def test_vocab_must_hold_the_special_tokens():
    with pytest.raises(ValueError, match=r"special tokens \['\[MASK\]'\]"):
        WordPiece({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3})
    with pytest.raises(TypeError, match="vocab must be a non-empty dict"):
        WordPiece({})


def test_from_tokenizer_json_refuses_another_model():
    with pytest.raises(ValueError, match="uncased BERT WordPiece"):
        WordPiece.from_tokenizer_json('{"model": {"type": "BPE"}, "normalizer": null}')
