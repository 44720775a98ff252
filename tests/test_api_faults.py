"""Bad input to the course's public functions is refused at once, with a ValueError/TypeError
whose message names the argument, what it got and what was expected (course_utils.checks,
positional, attention, transformer, ntm).

Each test here was written against a fault of the earlier code (a silent wrong answer, a NaN, a
20-second allocation, or an error from deep inside torch that names no argument).
"""

from __future__ import annotations

import math
import re
import time
import warnings

import pytest
import torch
from numerics import ntm_functions, randn

from course_utils import checks
from course_utils.attention import (
    MultiHeadAttention,
    dot_product_scores,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.ntm import (
    NTM,
    LSTMBaseline,
    circular_shift,
    content_addressing,
    interpolate,
    read,
    sharpen,
    write,
)
from course_utils.positional import MAX_TABLE_ENTRIES, frequencies, sinusoidal_encoding
from course_utils.transformer import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    LayerCache,
    Transformer,
)

torch.set_num_threads(1)

BATCH, ROWS, WIDTH = 3, 7, 5


# ================================================================================ checks
@pytest.mark.parametrize("bad", [0, -3, True, 2.0, "2", None], ids=repr)
def test_positive_int_names_the_argument(bad):
    with pytest.raises(ValueError, match=rf"^size must be a positive int, got {bad!r}$"):
        checks.positive_int("size", bad)
    assert checks.positive_int("size", 4) == 4


@pytest.mark.parametrize("bad", [torch.long, torch.int32, torch.bool, torch.complex64,
                                 "float32", float, None], ids=repr)
def test_floating_dtype_names_the_argument(bad):
    with pytest.raises(TypeError, match=r"^dtype must be a floating-point torch\.dtype"):
        checks.floating_dtype("dtype", bad)
    assert checks.floating_dtype("dtype", torch.float64) is torch.float64


# ============================================================================ positional
@pytest.mark.parametrize("dtype", [torch.long, torch.int32, torch.uint8, torch.bool,
                                   torch.complex64, "float32", None], ids=str)
def test_sinusoidal_encoding_refuses_a_non_floating_dtype(dtype):
    """Before: dtype=torch.long silently rounded every sin and cos to 0 or ±1."""
    with pytest.raises(TypeError, match=r"^dtype must be a floating-point torch\.dtype.*"
                                        rf"got {re.escape(repr(dtype))}"):
        sinusoidal_encoding(5, 4, dtype=dtype)
    with pytest.raises(TypeError, match=r"^dtype must be a floating-point"):
        frequencies(4, dtype=dtype)


@pytest.mark.parametrize("base", ["10000", None, [10000.0], torch.tensor(10000.0), True],
                         ids=repr)
def test_sinusoidal_encoding_refuses_a_base_that_is_not_a_number(base):
    """Before: base="10000" failed with "'>' not supported between 'str' and 'int'"."""
    with pytest.raises(TypeError, match=r"^base must be a real number.*got "):
        sinusoidal_encoding(5, 4, base=base)
    with pytest.raises(TypeError, match=r"^base must be a real number"):
        frequencies(4, base=base)


@pytest.mark.parametrize("base", [1, 1.0, float("inf")], ids=repr)
def test_sinusoidal_encoding_refuses_a_base_of_one_or_infinity(base):
    """base = 1 gives every column pair the same frequency (the table holds one circle, d_model
    / 2 times); base = ∞ stops every pair but the first: both lose the encoding's point."""
    with pytest.raises(ValueError, match=rf"^base must be positive.*got {base!r}"):
        sinusoidal_encoding(5, 4, base=base)
    with pytest.raises(ValueError, match=r"^base must be positive"):
        frequencies(4, base=base)


@pytest.mark.parametrize(("num_positions", "d_model"), [(10**9, 512), (2**20, 2**10),
                                                        (1, 2**30)])
def test_sinusoidal_encoding_refuses_a_huge_table_at_once(num_positions, d_model):
    """Before: sinusoidal_encoding(10**9, 512) worked for ~20 s, then failed to allocate."""
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        sinusoidal_encoding(num_positions, d_model)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert message.startswith("num_positions × d_model")
    for part in (f"{num_positions:,}", f"{d_model:,}", f"{num_positions * d_model:,}",
                 f"{MAX_TABLE_ENTRIES:,}", "GiB"):
        assert part in message, (part, message)


def test_sinusoidal_encoding_limit_is_2_to_the_28_entries():
    limit = MAX_TABLE_ENTRIES
    assert limit == 2**28
    with pytest.raises(ValueError, match="num_positions × d_model"):
        sinusoidal_encoding(limit // 2 + 1, 2)  # one row past the limit
    assert sinusoidal_encoding(4, 2).shape == (4, 2)


# ============================================================================= attention
def test_scaled_attention_refuses_keys_of_width_zero():
    """Before: QKᵀ/√0 = 0/0 gave NaN weights and a NaN output."""
    query, key, value = torch.zeros(2, 3, 0), torch.zeros(2, 4, 0), torch.zeros(2, 4, 5)
    with pytest.raises(ValueError, match=r"d = 0.*query \(2, 3, 0\).*keys \(2, 4, 0\)"):
        scaled_dot_product_attention(query, key, value)
    with pytest.raises(ValueError, match=r"d = 0"):
        dot_product_scores(query, key)
    # Unscaled, an empty dot product is 0: no division, nothing to refuse.
    assert torch.equal(dot_product_scores(query, key, scaled=False), torch.zeros(2, 3, 4))


@pytest.mark.parametrize(("d_model", "num_heads"), [(10, 3), (8, 3), (4, 8)])
def test_split_heads_refuses_a_width_not_divisible_by_the_heads(d_model, num_heads):
    """Before: (2, 3, 10) in 3 heads was reshaped to 3 × 3 and failed in torch's reshape."""
    with pytest.raises(ValueError, match=rf"d_model = {d_model}.*num_heads = {num_heads}"):
        split_heads(torch.zeros(2, 3, d_model), num_heads)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None], ids=repr)
def test_split_heads_refuses_a_bad_number_of_heads(bad):
    with pytest.raises(ValueError, match=r"^num_heads must be a positive int"):
        split_heads(torch.zeros(2, 3, 4), bad)


def test_split_and_merge_heads_refuse_a_wrong_shape():
    with pytest.raises(ValueError, match=r"^x must have shape \(batch, n, d_model\).*\(3, 4\)"):
        split_heads(torch.zeros(3, 4), 2)
    with pytest.raises(TypeError, match=r"^x must be a torch\.Tensor"):
        split_heads([[[0.0, 1.0]]], 1)
    with pytest.raises(ValueError, match=r"^x must have shape \(batch, num_heads, n, d_h\).*"
                                         r"\(2, 3, 4\)"):
        merge_heads(torch.zeros(2, 3, 4))
    x = torch.arange(24.0).reshape(1, 2, 12)
    assert torch.equal(merge_heads(split_heads(x, 3)), x)


# =========================================================================== transformer
BLOCKS = {
    "EncoderBlock": (EncoderBlock, {"d_model": 8, "num_heads": 2, "d_ff": 16}),
    "DecoderBlock": (DecoderBlock, {"d_model": 8, "num_heads": 2, "d_ff": 16}),
    "FeedForward": (FeedForward, {"d_model": 8, "d_ff": 16}),
    "MultiHeadAttention": (MultiHeadAttention, {"d_model": 8, "num_heads": 2}),
    "Transformer": (Transformer, {"source_vocab": 5, "target_vocab": 6, "d_model": 8,
                                  "num_heads": 2, "d_ff": 16, "num_layers": 1,
                                  "max_length": 10}),
}
SIZE_CASES = [(cls, name, bad) for cls, (_, sizes) in BLOCKS.items() for name in sizes
              for bad in (0, -1, 2.5, "8")]


@pytest.mark.parametrize(("cls", "name", "bad"), SIZE_CASES,
                         ids=[f"{c}-{n}-{b!r}" for c, n, b in SIZE_CASES])
def test_every_size_argument_must_be_a_positive_int(cls, name, bad):
    """Before: EncoderBlock(8, 2, 0) was accepted (an FFN of width 0); EncoderBlock(8, 2, -1)
    failed inside torch with "negative dimension"."""
    build, sizes = BLOCKS[cls]
    with pytest.raises(ValueError, match=rf"^{name} must be a positive int, got {bad!r}"):
        build(**{**sizes, name: bad})


DROPOUT_CASES = [(cls, bad) for cls in ("EncoderBlock", "DecoderBlock", "FeedForward",
                                        "Transformer")
                 for bad in (-0.1, 1.5, float("nan"), float("inf"))]


@pytest.mark.parametrize(("cls", "bad"), DROPOUT_CASES,
                         ids=[f"{c}-{b!r}" for c, b in DROPOUT_CASES])
def test_dropout_must_be_a_probability(cls, bad):
    build, sizes = BLOCKS[cls]
    with pytest.raises(ValueError, match=rf"^dropout must be a probability in \[0, 1\], "
                                         rf"got {bad!r}"):
        build(**sizes, dropout=bad)


@pytest.mark.parametrize("bad", ["0.1", None, True, torch.tensor(0.1)], ids=repr)
def test_dropout_must_be_a_number(bad):
    with pytest.raises(TypeError, match=r"^dropout must be a real number"):
        EncoderBlock(8, 2, 16, dropout=bad)


@pytest.mark.parametrize("good", [0, 0.0, 0.5, 1.0])
def test_dropout_in_range_is_accepted(good):
    block = EncoderBlock(8, 2, 16, dropout=good)
    assert all(m.p == good for m in block.modules() if isinstance(m, torch.nn.Dropout))


def _started(block: DecoderBlock, batch: int = 2, n: int = 3, dtype=torch.float32
             ) -> LayerCache:
    with torch.no_grad():
        return block.start_cache(randn(batch, n, block.d_model, dtype=dtype, seed=1))


def test_step_refuses_the_cache_of_another_block():
    """Before: block b used the memory keys block a had projected, and answered silently."""
    torch.manual_seed(0)
    a, b = DecoderBlock(8, 2, 16).eval(), DecoderBlock(8, 2, 16).eval()
    x_t = randn(2, 1, 8, dtype=torch.float32, seed=2)
    cache = _started(a)
    with torch.no_grad():
        _, _, _, cache = a.step(x_t, cache)  # the owner goes on with it
        assert cache.owner is a and cache.length == 1
        with pytest.raises(ValueError, match=r"^cache was started by another DecoderBlock"):
            b.step(x_t, cache)


@pytest.mark.parametrize(("sizes", "what"), [((8, 4, 16), r"num_heads"),
                                             ((12, 2, 16), r"d_model"),
                                             ((12, 3, 16), r"d_model")])
def test_step_refuses_a_cache_of_another_shape(sizes, what):
    """A cache made by hand (no owner) is checked by its shapes: heads and head width."""
    torch.manual_seed(0)
    block, other = DecoderBlock(8, 2, 16).eval(), DecoderBlock(*sizes).eval()
    cache = _started(other)
    cache = LayerCache(cache.self_key, cache.self_value, cache.memory_key, cache.memory_value)
    assert cache.owner is None
    with torch.no_grad(), pytest.raises(ValueError, match=rf"^cache\.memory_key has shape "
                                                            rf".*{what}"):
        block.step(randn(2, 1, 8, dtype=torch.float32, seed=2), cache)


def test_step_refuses_an_inconsistent_cache():
    torch.manual_seed(0)
    block = DecoderBlock(8, 2, 16).eval()
    cache = _started(block)
    x_t = randn(2, 1, 8, dtype=torch.float32, seed=2)
    with torch.no_grad():
        _, _, _, cache = block.step(x_t, cache)
        short = LayerCache(cache.self_key, cache.self_value[:, :, :0], cache.memory_key,
                           cache.memory_value)
        with pytest.raises(ValueError, match=r"^cache\.self_value has shape \(2, 2, 0, 4\)"):
            block.step(x_t, short)
        wide = LayerCache(cache.self_key, cache.self_value, cache.memory_key,
                          cache.memory_value[:, :, :2])
        with pytest.raises(ValueError, match=r"^cache\.memory_value has shape \(2, 2, 2, 4\)"):
            block.step(x_t, wide)
        double = _started(block.double(), dtype=torch.float64)
        with pytest.raises(TypeError, match=r"^cache holds torch\.float64.*torch\.float32"):
            block.float().step(x_t, double)


def test_step_still_names_the_batch_size():
    torch.manual_seed(0)
    block = DecoderBlock(8, 2, 16).eval()
    with pytest.raises(ValueError, match=r"x_t has batch size 1 but the cache .* batch size 2"):
        block.step(randn(1, 1, 8, dtype=torch.float32, seed=2), _started(block))


def _tiny_transformer() -> Transformer:
    torch.manual_seed(0)
    return Transformer(5, 6, d_model=8, num_heads=2, d_ff=16, num_layers=1,
                       max_length=8).eval()


@pytest.mark.parametrize(("start", "k"), [(8, 1), (7, 2), (100, 1), (-1, 1), (-8, 3)])
def test_embed_refuses_positions_outside_the_table(start, k):
    """Before: start = 8 with max_length 8 sliced an empty table and broadcast to (batch, 0,
    d_model) silently; a negative start read positions from the end of the table."""
    model = _tiny_transformer()
    tokens = torch.ones(2, k, dtype=torch.long)
    with pytest.raises(ValueError, match=rf"^start must be an int in \[0, {8 - k}\].*"
                                         rf"max_length = 8.*got {start}"):
        model.embed(tokens, model.target_embed, start=start)


@pytest.mark.parametrize("start", [1.0, "1", None, True, torch.tensor(1)], ids=repr)
def test_embed_refuses_a_start_that_is_not_an_int(start):
    model = _tiny_transformer()
    with pytest.raises(ValueError, match=r"^start must be an int in \[0, 7\]"):
        model.embed(torch.ones(2, 1, dtype=torch.long), model.target_embed, start=start)


def test_embed_refuses_more_tokens_than_the_table_has_positions():
    model = _tiny_transformer()
    with pytest.raises(ValueError, match=r"^tokens has 9 positions, more than the 8"):
        model.embed(torch.ones(2, 9, dtype=torch.long), model.target_embed)


def test_embed_accepts_every_start_inside_the_table():
    model = _tiny_transformer()
    tokens = torch.ones(2, 3, dtype=torch.long)
    for start in range(6):
        with torch.no_grad():
            out = model.embed(tokens, model.target_embed, start=start)
        assert out.shape == (2, 3, 8)


# =================================================================================== NTM
def _small_ntm() -> NTM:
    torch.manual_seed(0)
    return NTM(4, 3, controller_size=8, memory_rows=6, memory_width=4)


def test_ntm_refuses_a_sequence_of_length_zero():
    """Before: "stack expects a non-empty TensorList" from inside the forward."""
    with pytest.raises(ValueError, match=r"^x must hold at least one time step.*"
                                         r"length 0.*\(2, 0, 4\)"):
        _small_ntm()(torch.zeros(2, 0, 4))
    with pytest.raises(ValueError, match=r"^x must hold at least one time step.*"
                                         r"length 0.*\(2, 0, 9\)"):
        LSTMBaseline(9, 8, hidden_size=16)(torch.zeros(2, 0, 9))


def _valid(dtype=torch.float32, **changes):
    args = {"memory": randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=1),
            "key": randn(BATCH, WIDTH, dtype=dtype, seed=2),
            "beta": torch.full((BATCH, 1), 2.0, dtype=dtype),
            "w": torch.softmax(randn(BATCH, ROWS, dtype=dtype, seed=3), -1),
            "w_content": torch.softmax(randn(BATCH, ROWS, dtype=dtype, seed=4), -1),
            "w_prev": torch.softmax(randn(BATCH, ROWS, dtype=dtype, seed=5), -1),
            "g": torch.full((BATCH, 1), 0.5, dtype=dtype),
            "shift": torch.tensor([[0.1, 0.8, 0.1]] * BATCH, dtype=dtype),
            "gamma": torch.full((BATCH, 1), 2.0, dtype=dtype),
            "erase": torch.full((BATCH, WIDTH), 0.5, dtype=dtype),
            "add": randn(BATCH, WIDTH, dtype=dtype, seed=6)}
    args.update(changes)
    return args


NTM_FUNCTIONS = ntm_functions()


def _call(function: str, **changes):
    fn, names = NTM_FUNCTIONS[function]
    args = _valid(**changes)
    return fn(*(args[name] for name in names))


MIXED = [(function, name) for function, (_, names) in NTM_FUNCTIONS.items()
         for name in names[1:]]


@pytest.mark.parametrize(("function", "name"), MIXED, ids=[f"{f}-{n}" for f, n in MIXED])
def test_ntm_functions_refuse_mixed_dtypes(function, name):
    """Before: read(float64 memory, float32 w) failed in matmul ("expected m1 and m2 to have
    the same dtype") without naming an argument; interpolate silently promoted."""
    first = NTM_FUNCTIONS[function][1][0]
    other = _valid(torch.float64)[name]
    with pytest.raises(TypeError, match=rf"^tensors must share one dtype, got {first} "
                                        rf"torch\.float32.*{name} torch\.float64"):
        _call(function, **{name: other})


def test_read_names_both_dtypes():
    memory = randn(BATCH, ROWS, WIDTH, dtype=torch.float64, seed=1)
    w = torch.full((BATCH, ROWS), 1 / ROWS)
    with pytest.raises(TypeError, match=r"memory torch\.float64, w torch\.float32"):
        read(memory, w)


def _scalars(*values):
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1)


OUT_OF_RANGE = [
    ("content_addressing", "beta", _scalars(1.0, -0.5, 2.0), r"\[0, inf\)", "-0.5",
     "batch element 1"),
    ("content_addressing", "beta", _scalars(1.0, 2.0, math.nan), r"\[0, inf\)", "nan",
     "batch element 2"),
    ("interpolate", "g", _scalars(0.5, 1.5, 0.0), r"\[0, 1\]", "1.5", "batch element 1"),
    ("interpolate", "g", _scalars(-0.25, 0.5, 1.0), r"\[0, 1\]", "-0.25", "batch element 0"),
    ("circular_shift", "shift", torch.tensor([[0.1, 0.8, 0.1], [0.2, 1.0, -0.2],
                                              [0.0, 1.0, 0.0]]),
     r"\[0, inf\)", "-0.2", r"batch element 1, column 2"),
    ("sharpen", "gamma", _scalars(1.0, 2.0, 0.5), r"\[1, inf\)", "0.5", "batch element 2"),
    ("sharpen", "w", torch.tensor([[0.5, 0.5, 0, 0, 0, 0, 0], [1.2, -0.2, 0, 0, 0, 0, 0],
                                   [1.0, 0, 0, 0, 0, 0, 0]]),
     r"\[0, inf\)", "-0.2", r"batch element 1, column 1"),
    ("write", "erase", torch.tensor([[0.5] * WIDTH, [0.5] * WIDTH, [0.5] * 4 + [1.01]]),
     r"\[0, 1\]", "1.01", r"batch element 2, column 4"),
    ("write", "erase", torch.tensor([[0.5] * WIDTH, [-1.0] + [0.5] * 4, [0.5] * WIDTH]),
     r"\[0, 1\]", "-1", r"batch element 1, column 0"),
]


@pytest.mark.parametrize(("function", "name", "value", "allowed", "got", "where"), OUT_OF_RANGE,
                         ids=[f"{f}-{n}-{g}" for f, n, _, _, g, _ in OUT_OF_RANGE])
def test_ntm_functions_refuse_values_out_of_range(function, name, value, allowed, got, where):
    """Before: g = 1.5 or a negative shift gave a "weighting" with negative entries, γ < 1
    blurred instead of sharpening, β < 0 looked for the least similar row, erase > 1 flipped
    the memory's sign, and sharpen of a negative weighting gave NaN — all silently."""
    with pytest.raises(ValueError, match=rf"^{name} must be in {allowed}.*got {got} "
                                         rf"\(at {where}\)"):
        _call(function, **{name: value})


@pytest.mark.parametrize(("function", "name", "value"), [
    ("content_addressing", "beta", _scalars(0.0, 0.0, 1e30)),
    ("interpolate", "g", _scalars(0.0, 1.0, 0.5)),
    ("circular_shift", "shift", torch.tensor([[0.0, 1.0, 0.0]] * BATCH)),
    ("sharpen", "gamma", _scalars(1.0, 1.0, 1e6)),
    ("sharpen", "w", torch.eye(BATCH, ROWS)),
    ("write", "erase", torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.5]] * BATCH)),
])
def test_ntm_functions_accept_the_ends_of_the_ranges(function, name, value):
    assert torch.isfinite(_call(function, **{name: value})).all()


def test_circular_shift_refuses_a_shift_that_is_not_a_distribution():
    """Before: a shift of [0.5, 2.0, 0.0] scaled the weighting by 2.5: no weighting any more."""
    w = _valid()["w"]
    with pytest.raises(ValueError, match=r"^shift must sum to 1 .*row 0 sums to 2\.5"):
        circular_shift(w, torch.tensor([[0.5, 2.0, 0.0]] * BATCH))
    with pytest.raises(ValueError, match=r"row 1 sums to 0\.5"):
        circular_shift(w, torch.tensor([[0.0, 1.0, 0.0], [0.25, 0.25, 0.0], [0.0, 1.0, 0.0]]))
    softmax = torch.softmax(torch.randn(BATCH, 5, generator=torch.Generator().manual_seed(0)), -1)
    assert torch.isfinite(circular_shift(w, softmax)).all()      # a softmax's rounding passes


def test_range_checks_keep_gradients_and_results():
    """The checks read values only: the outputs and gradients are those of the formulas."""
    args = {k: v.double().requires_grad_() for k, v in _valid(torch.float64).items()}
    out = sharpen(circular_shift(interpolate(content_addressing(args["memory"], args["key"],
                                                                args["beta"]),
                                             args["w_prev"], args["g"]), args["shift"]),
                  args["gamma"])
    out = read(write(args["memory"], out, args["erase"], args["add"]), out)
    out.sum().backward()
    for name in ("beta", "g", "shift", "gamma", "erase"):
        assert args[name].grad is not None and torch.isfinite(args[name].grad).all(), name


def test_range_checks_do_not_run_under_tracing():
    """Under torch.jit.trace the checks are skipped (a data-dependent branch would be baked
    into the trace): no TracerWarning comes from course_utils/checks.py, and the trace
    computes the same weighting."""
    args = _valid()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(sharpen, (args["w"], args["gamma"]))
        torch.jit.trace(write, (args["memory"], args["w"], args["erase"], args["add"]))
    assert not [w for w in caught if w.filename.endswith("checks.py")], [
        (w.filename, w.lineno, str(w.message)) for w in caught]
    other_gamma = torch.full((BATCH, 1), 3.0)
    torch.testing.assert_close(traced(args["w"], other_gamma), sharpen(args["w"], other_gamma))


def test_range_checks_compile_without_a_graph_break():
    """torch.compile (dynamo, fullgraph) traces the addressing chain in one graph."""
    compiled = torch.compile(lambda w, g, shift, gamma: sharpen(
        circular_shift(interpolate(w, w, g), shift), gamma), backend="eager", fullgraph=True)
    args = _valid()
    torch.testing.assert_close(
        compiled(args["w"], args["g"], args["shift"], args["gamma"]),
        sharpen(circular_shift(interpolate(args["w"], args["w"], args["g"]), args["shift"]),
                args["gamma"]))


def test_values_in_accepts_an_empty_tensor_and_reports_the_first_bad_entry():
    empty = torch.zeros(0, 1)
    assert checks.values_in("g", empty, 0, 1) is empty
    g = torch.tensor([[0.5], [0.2]], requires_grad=True)
    assert checks.values_in("g", g, 0, 1) is g
    with pytest.raises(ValueError, match=r"^g must be in \[0, 1\] \(a gate\); got 2 "
                                         r"\(at batch element 1\)$"):
        checks.values_in("g", torch.tensor([[0.5], [2.0], [-1.0]]), 0, 1, meaning="a gate")
