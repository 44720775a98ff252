"""Chapter 11's pretrained Transformer, all-MiniLM-L6-v2 rebuilt from the course's blocks: the
code lives in :mod:`course_utils.worlds.pretrained` (layer 2, the chapters' worlds: real
weights, read from an installed package) and its tokenizer in
:mod:`course_utils.worlds.wordpiece`.

This short path is the one the chapter uses (``from course_utils.pretrained import MiniLM,
WEIGHTS_SHA256``); it only re-exports.
"""

from .worlds.pretrained import *  # noqa: F403
from .worlds.pretrained import (
    TOKENIZER_SHA256,
    UNUSED_WEIGHTS,
    WEIGHTS_SHA256,
    Embeddings,
    MiniLM,
    WeightRow,
    course_state_dict,
    load_tokenizer,
    mean_pool,
    weight_map,
)
from .worlds.wordpiece import WordPiece, normalize, pre_tokenize, wordpiece

__all__ = ["WEIGHTS_SHA256", "TOKENIZER_SHA256", "MiniLM", "Embeddings", "mean_pool",
           "weight_map", "WeightRow", "UNUSED_WEIGHTS", "course_state_dict", "load_tokenizer",
           "WordPiece", "normalize", "pre_tokenize", "wordpiece"]
