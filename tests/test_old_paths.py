"""Every module path the chapters imported before the package was split into layers
(foundations, mechanisms, worlds) still imports, and exposes the same public names: each
old ``__all__`` (listed here as it was, not read from the code) and the module constants that
callers used outside it. Each name is the very object of its new home, so an old path and a
new one never hand out two different classes or functions."""

from __future__ import annotations

import importlib

import pytest

#: old module → its ``__all__`` before the move, plus its own constants outside ``__all__``.
OLD_PUBLIC_NAMES = {
    "checks": [
        "positive_int", "real_number", "probability", "floating_dtype", "float_tensor",
        "same_dtype", "values_in", "sums_to_one",
    ],
    "attention": [
        "masked_softmax", "dot_product_scores", "hard_attention_weights", "context_vector",
        "scaled_dot_product_attention", "AdditiveAttention", "split_heads", "merge_heads",
        "MultiHeadAttention",
    ],
    "positional": [
        "sinusoidal_encoding", "frequencies", "MAX_TABLE_ENTRIES",
    ],
    "memory": [
        "MemoryRNN", "KeyValueRetriever", "AttentionRecall",
    ],
    "ntm": [
        "content_addressing", "interpolate", "circular_shift", "sharpen", "read", "write",
        "NTMOutput", "NTM", "LSTMBaseline", "train_copy", "EPS",
    ],
    "efficient": [
        "OnlineSoftmax", "chunked_attention", "naive_attention", "peak_tensor_memory",
        "saved_for_backward", "count_operations",
    ],
    "transformer": [
        "FeedForward", "EncoderBlock", "causal_mask", "DecoderBlock", "LayerCache", "Transformer",
        "warmup_then_decay", "train_transformer",
    ],
    "tasks": [
        "RecallBatch", "recall_first_symbol", "RetrievalTask", "RetrievalBatch",
        "copy_task_batch", "copy_cost_bits",
    ],
    "translation": [
        "PAD", "BOS", "EOS", "Vocab", "ToyTranslation", "Batch", "make_batch", "pad",
        "teacher_forcing_pair", "CHAPTER_SPLIT",
    ],
    "seq2seq": [
        "ATTENTION_KINDS", "Encoder", "Decoder", "Seq2Seq", "Translation", "greedy_decode",
        "decode_teacher_forced", "decode_greedy", "exact_and_token_accuracy",
        "evaluate_by_length", "train_translator",
    ],
    "captioning": [
        "GRID", "CELL", "IMAGE_SIZE", "COLOURS", "SHAPES", "Shape", "Scene", "ShapesWorld",
        "CaptionBatch", "make_caption_batch", "RegionEncoder", "Captioner", "caption_images",
        "regions_to_pixels", "describe", "AttentionOnObjects", "object_word_attention",
        "train_captioner", "CAPTION_SPLIT", "WORDS",
    ],
    "reading": [
        "PEOPLE", "PLACES", "OBJECTS", "QUESTION_KINDS", "Story", "StoryWorld", "StoryBatch",
        "make_story_batch", "position_weights", "memory_hop", "MemoryNetwork", "answer_accuracy",
        "train_reader", "STORY_SPLIT", "MAX_SENTENCES",
    ],
    "relations": [
        "PAIRS", "SEQ_LEN", "TOKENS", "PairsTask", "PairsBatch", "RelationModel",
        "relation_accuracy", "train_relation_model", "DIGITS", "IGNORE",
    ],
    "training": [
        "train", "warmup_then_decay",
    ],
    "checkpoints": [
        "checkpoint_dir", "sha256", "save_checkpoint", "load_checkpoint", "MANIFEST",
        "MANIFEST_LINE",
    ],
}

#: old module → where its code lives now (under course_utils).
NEW_HOME = {
    "checks": "foundations.checks",
    "attention": "mechanisms.attention",
    "positional": "mechanisms.positional",
    "memory": "mechanisms.memory",
    "ntm": "mechanisms.ntm",
    "efficient": "mechanisms.efficient",
    "transformer": "mechanisms.transformer",
    "tasks": "worlds.toy_tasks",
    "translation": "worlds.translation",
    "seq2seq": "worlds.seq2seq",
    "captioning": "worlds.captioning",
    "reading": "worlds.reading",
    "relations": "worlds.relations",
    "training": "worlds.training",
    "checkpoints": "worlds.checkpoints",
}

#: names of an old module whose code went to another new module than the rest.
MOVED_ELSEWHERE = {
    "ntm": {
        "train_copy": "worlds.copy_training",
    },
    "transformer": {
        "Transformer": "worlds.translation_transformer",
        "train_transformer": "worlds.translation_transformer",
        "warmup_then_decay": "worlds.training",
    },
}


@pytest.mark.parametrize("old", sorted(OLD_PUBLIC_NAMES))
def test_old_path_imports_and_keeps_its_all(old):
    module = importlib.import_module(f"course_utils.{old}")
    names = [n for n in OLD_PUBLIC_NAMES[old] if n in module.__all__ or not n.isupper()]
    assert set(names) <= set(module.__all__), set(names) - set(module.__all__)
    namespace: dict[str, object] = {}
    exec(f"from course_utils.{old} import *", namespace)  # noqa: S102
    missing = [n for n in names if n not in namespace]
    assert not missing, f"from course_utils.{old} import * lacks {missing}"


@pytest.mark.parametrize("old", sorted(OLD_PUBLIC_NAMES))
def test_each_old_name_is_the_object_of_its_new_home(old):
    module = importlib.import_module(f"course_utils.{old}")
    for name in OLD_PUBLIC_NAMES[old]:
        home = importlib.import_module(
            "course_utils." + MOVED_ELSEWHERE.get(old, {}).get(name, NEW_HOME[old]))
        assert hasattr(module, name), f"course_utils.{old}.{name} is gone"
        assert getattr(module, name) is getattr(home, name), (
            f"course_utils.{old}.{name} is not {home.__name__}.{name}")


def test_the_new_homes_hold_the_code_not_the_old_paths():
    """Classes and functions report their new module, so the old paths are only re-exports."""
    for old, names in OLD_PUBLIC_NAMES.items():
        module = importlib.import_module(f"course_utils.{old}")
        for name in names:
            defined_in = getattr(getattr(module, name), "__module__", None)
            assert defined_in != f"course_utils.{old}", f"{old}.{name} is still defined there"


def test_the_checks_old_path_offers_the_new_public_checks_too():
    """course_utils.checks re-exports all of foundations.checks, the checks that were private
    or copied around before included."""
    old = importlib.import_module("course_utils.checks")
    new = importlib.import_module("course_utils.foundations.checks")
    assert old.__all__ == new.__all__
    for name in ("attention_mask", "same_batch", "positive_index", "float_tensor_of_rank",
                 "float_sequence"):
        assert getattr(old, name) is getattr(new, name)
