"""course_utils.transformer's decoder half (causal_mask, DecoderBlock, LayerCache, Transformer)
and the key/value-cache API of course_utils.attention.MultiHeadAttention (project_key_value,
attend), against torch.nn.TransformerDecoderLayer(batch_first=True, norm_first=False,
activation="relu"), against hand computations and against each other (cached = uncached).

Mask conventions: ours are True = may attend; torch's boolean masks are True = masked, so they
are inverted at the boundary (tgt_mask=~causal, memory_key_padding_mask=~pad).

torch's nn.MultiheadAttention (inside the decoder layer) takes a fused fast path in eval mode
when grad is off, and the plain Python path otherwise; both are compared ("fast", "slow").
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from numerics import randn, randomised_layer
from numerics import tol as numeric_tol
from torch import nn

import course_utils.seq2seq as seq2seq
from course_utils.attention import (
    MultiHeadAttention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.positional import sinusoidal_encoding
from course_utils.seq2seq import (
    Seq2Seq,
    Translation,
    evaluate_by_length,
    exact_and_token_accuracy,
    greedy_decode,
)
from course_utils.transformer import (
    DecoderBlock,
    EncoderBlock,
    LayerCache,
    Transformer,
    causal_mask,
)
from course_utils.translation import Batch, make_batch

torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
# The acceptance tolerances: the largest absolute difference to PyTorch.
MAX_ABS_ERROR = {torch.float32: 1e-5, torch.float64: 1e-12}
# Cached (one position at a time) against the full forward with the causal mask.
CACHE_ERROR = {torch.float32: 1e-6, torch.float64: 1e-12}  # allclose: atol …
CACHE_RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}  # … and rtol
# (d_model, num_heads, d_ff)
SIZES = [(8, 2, 16), (12, 3, 20), (16, 4, 32), (6, 1, 7)]
MASKS = ["none", "causal", "padding", "both"]
PATHS = ["fast", "slow"]
BATCH, M, N = 3, 5, 7  # m target positions, n memory (source) positions


def tol(dtype: torch.dtype) -> dict[str, float]:
    return numeric_tol(dtype, atol32=1e-5)


def torch_layer(d_model: int, num_heads: int, d_ff: int, dtype: torch.dtype, seed: int = 0,
                dropout: float = 0.0, **kwargs) -> nn.TransformerDecoderLayer:
    """torch's layer in eval mode, with random biases and LayerNorm affine."""
    return randomised_layer(nn.TransformerDecoderLayer, d_model, num_heads, d_ff, dtype, seed,
                            dropout, **kwargs)


def source_padding(batch: int = BATCH, n: int = N) -> torch.Tensor:
    """(batch, n) True = a real source token; every row keeps at least one."""
    lengths = torch.tensor([n, 2, 4, 1, 6][:batch])
    return torch.arange(n) < lengths[:, None]


def make_masks(masks: str, batch: int = BATCH, m: int = M, n: int = N):
    """(self_mask, memory_mask) in our convention and (pad, causal) True = keep."""
    pad = causal = self_mask = memory_mask = None
    if masks in ("causal", "both"):
        causal = causal_mask(m)
        self_mask = causal
    if masks in ("padding", "both"):
        pad = source_padding(batch, n)
        memory_mask = pad[:, None, None, :]  # (batch, 1, 1, n)
    return self_mask, memory_mask, pad, causal


def call_torch(layer: nn.TransformerDecoderLayer, x, memory, pad=None, causal=None,
               path: str = "slow") -> torch.Tensor:
    kwargs = {"tgt_mask": None if causal is None else ~causal,
              "memory_key_padding_mask": None if pad is None else ~pad}
    if path == "fast":
        with torch.no_grad():
            return layer(x, memory, **kwargs)
    with torch.enable_grad():
        return layer(x, memory, **kwargs).detach()


def inputs(d_model: int, dtype: torch.dtype, seed: int = 0, batch: int = BATCH, m: int = M,
           n: int = N):
    x = randn(batch, m, d_model, dtype=dtype, seed=seed) * 2
    memory = randn(batch, n, d_model, dtype=dtype, seed=seed + 1) * 2
    return x, memory


CASES = list(itertools.product(DTYPES, SIZES, MASKS, PATHS))


def case_id(case) -> str:
    dtype, (d, h, ff), masks, path = case
    return f"{str(dtype).removeprefix('torch.')}-d{d}h{h}ff{ff}-{masks}-{path}"


def compare(dtype, sizes, masks, path, seed=0):
    """Our output and weights, and torch's output, on the same input."""
    d_model, num_heads, d_ff = sizes
    layer = torch_layer(d_model, num_heads, d_ff, dtype, seed=seed)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(d_model, dtype, seed=seed + 1)
    self_mask, memory_mask, pad, causal = make_masks(masks)
    with torch.no_grad():
        out, self_weights, cross_weights = block(x, memory, self_mask, memory_mask)
    return out, self_weights, cross_weights, call_torch(layer, x, memory, pad, causal, path)


# ==================================================================================== causal_mask
@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_causal_mask_values(n):
    mask = causal_mask(n)
    assert mask.shape == (n, n) and mask.dtype == torch.bool
    for t in range(n):
        for j in range(n):
            assert mask[t, j].item() == (j <= t), (t, j)  # the query at t sees 0 … t


def test_causal_mask_device_and_use_as_a_mask():
    mask = causal_mask(4, device="cpu")
    assert mask.device.type == "cpu"
    scores = randn(2, 3, 4, 4, dtype=torch.float64, seed=1)
    _, weights = scaled_dot_product_attention(scores, scores, scores, mask)
    assert torch.all(weights[..., ~mask] == 0) and torch.all(weights[..., mask] > 0)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4", None, torch.tensor(3)],
                         ids=["zero", "negative", "float", "bool", "str", "None", "tensor"])
def test_causal_mask_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="n must be a positive int"):
        causal_mask(bad)


# ============================================================ DecoderBlock against PyTorch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_from_torch_matches_transformer_decoder_layer(case):
    dtype, (d_model, num_heads, _), masks, path = case
    out, self_weights, cross_weights, ref = compare(*case)
    assert out.shape == ref.shape == (BATCH, M, d_model) and out.dtype == dtype
    assert self_weights.shape == (BATCH, num_heads, M, M) and self_weights.dtype == dtype
    assert cross_weights.shape == (BATCH, num_heads, M, N) and cross_weights.dtype == dtype
    assert torch.isfinite(ref).all()
    err = (out - ref).abs().max().item()
    assert err < MAX_ABS_ERROR[dtype], (
        f"max abs error {err:.3e} > {MAX_ABS_ERROR[dtype]:g} ({case_id(case)})")


def test_max_abs_error_against_torch_is_below_tolerance():
    """The acceptance number: max |ours − torch| over every case, per dtype."""
    worst = {dtype: 0.0 for dtype in DTYPES}
    for case in CASES:
        out, _, _, ref = compare(*case, seed=5)
        worst[case[0]] = max(worst[case[0]], (out - ref).abs().max().item())
    report = ", ".join(f"{dtype}: {err:.3e}" for dtype, err in worst.items())
    print(f"max abs error against torch.nn.TransformerDecoderLayer over {len(CASES)} cases: "
          f"{report}")
    for dtype, err in worst.items():
        assert err < MAX_ABS_ERROR[dtype], (
            f"max abs error {err:.3e} for {dtype} exceeds {MAX_ABS_ERROR[dtype]:g} ({report})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("batch", "m", "n"), [(1, 1, 1), (2, 1, 9), (4, 11, 3), (2, 16, 16)],
                         ids=str)
def test_from_torch_matches_on_other_lengths(dtype, batch, m, n):
    layer = torch_layer(16, 4, 24, dtype, seed=7)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(16, dtype, seed=8, batch=batch, m=m, n=n)
    pad = torch.arange(n) < torch.randint(1, n + 1, (batch,), generator=torch.Generator()
                                          .manual_seed(9))[:, None]
    causal = causal_mask(m)
    with torch.no_grad():
        out, _, _ = block(x, memory, causal, pad[:, None, None, :])
    for path in PATHS:
        err = (out - call_torch(layer, x, memory, pad, causal, path)).abs().max().item()
        assert err < MAX_ABS_ERROR[dtype], f"{path}: max abs error {err:.3e}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_are_torch_attention_weights(dtype):
    """self_weights: the self-attention's on the input; cross_weights: the cross-attention's
    on the first sublayer's output (torch's modules called with need_weights=True)."""
    layer = torch_layer(12, 3, 24, dtype, seed=10)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(12, dtype, seed=11)
    self_mask, memory_mask, pad, causal = make_masks("both")
    with torch.no_grad():
        _, self_weights, cross_weights = block(x, memory, self_mask, memory_mask)
        attended, ref_self = layer.self_attn(x, x, x, attn_mask=~causal, need_weights=True,
                                             average_attn_weights=False)
        h = layer.norm1(x + attended)
        _, ref_cross = layer.multihead_attn(h, memory, memory, key_padding_mask=~pad,
                                            need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(self_weights, ref_self, **tol(dtype))
    torch.testing.assert_close(cross_weights, ref_cross, **tol(dtype))
    assert torch.all(self_weights.triu(1) == 0)  # no peeking
    assert torch.all(cross_weights.masked_select(~pad[:, None, None, :]) == 0)  # no padding


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_torch_copies_parameters(dtype):
    layer = torch_layer(8, 2, 16, dtype, seed=20, layer_norm_eps=1e-3, dropout=0.25)
    block = DecoderBlock.from_torch(layer)
    assert all(p.dtype == dtype for p in block.parameters())
    for mha, theirs in ((block.self_attention, layer.self_attn),
                        (block.cross_attention, layer.multihead_attn)):
        assert isinstance(mha, MultiHeadAttention) and (mha.d_model, mha.num_heads) == (8, 2)
        for i, linear in enumerate((mha.w_query, mha.w_key, mha.w_value)):
            assert torch.equal(linear.weight, theirs.in_proj_weight[i * 8:(i + 1) * 8])
            assert torch.equal(linear.bias, theirs.in_proj_bias[i * 8:(i + 1) * 8])
        assert torch.equal(mha.w_out.weight, theirs.out_proj.weight)
        assert torch.equal(mha.w_out.bias, theirs.out_proj.bias)
    pairs = [(block.ffn.linear1, layer.linear1), (block.ffn.linear2, layer.linear2),
             (block.norm1, layer.norm1), (block.norm2, layer.norm2), (block.norm3, layer.norm3)]
    for ours, theirs in pairs:
        assert torch.equal(ours.weight, theirs.weight)
        assert torch.equal(ours.bias, theirs.bias)
    assert block.norm1.eps == block.norm2.eps == block.norm3.eps == 1e-3
    dropouts = [m for m in block.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 4 and all(m.p == 0.25 for m in dropouts)
    assert sum(p.numel() for p in block.parameters()) == sum(
        p.numel() for p in layer.parameters())
    # A copy, not a view: changing it leaves torch's layer alone.
    before = [p.detach().clone() for p in layer.parameters()]
    with torch.no_grad():
        for p in block.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_layer_norm_eps_copied(dtype, eps):
    """A large eps changes the output a lot, so a missed copy cannot hide."""
    layer = torch_layer(8, 2, 16, dtype, seed=30, layer_norm_eps=eps)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(8, dtype, seed=31)
    x, memory = x * 0.1, memory * 0.1  # small activations: eps matters
    with torch.no_grad():
        out, _, _ = block(x, memory)
    err = (out - call_torch(layer, x, memory)).abs().max().item()
    assert err < MAX_ABS_ERROR[dtype], f"eps={eps}: max abs error {err:.3e}"


def test_from_torch_keeps_train_mode_and_bias_free_layers():
    dtype = torch.float64
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                       bias=False).to(dtype).eval()
    block = DecoderBlock.from_torch(layer)
    assert not block.training
    x, memory = inputs(8, dtype, seed=35)
    self_mask, memory_mask, pad, causal = make_masks("both")
    with torch.no_grad():
        out, _, _ = block(x, memory, self_mask, memory_mask)
    torch.testing.assert_close(out, call_torch(layer, x, memory, pad, causal), **tol(dtype))
    assert DecoderBlock.from_torch(torch_layer(8, 2, 16, dtype).train()).training


@pytest.mark.parametrize("bad", [nn.Linear(8, 8), nn.MultiheadAttention(8, 2),
                                 nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
                                 DecoderBlock(8, 2, 16), "layer", None],
                         ids=["Linear", "MultiheadAttention", "EncoderLayer", "DecoderBlock",
                              "str", "None"])
def test_from_torch_rejects_non_layers(bad):
    with pytest.raises(TypeError, match="torch.nn.TransformerDecoderLayer"):
        DecoderBlock.from_torch(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm_first": True, "batch_first": True}, "norm_first"),
        ({"batch_first": False}, "batch_first"),
        ({"batch_first": True, "activation": "gelu"}, "relu"),
        ({"batch_first": True, "activation": F.gelu}, "relu"),
        ({"batch_first": True, "activation": nn.GELU()}, "relu"),
    ],
    ids=["norm_first", "seq_first", "gelu", "F.gelu", "nn.GELU"],
)
def test_from_torch_rejects_other_layouts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecoderBlock.from_torch(nn.TransformerDecoderLayer(8, 2, 16, **kwargs))


@pytest.mark.parametrize("activation", ["relu", F.relu, nn.ReLU()], ids=["str", "F", "module"])
def test_from_torch_accepts_every_spelling_of_relu(activation):
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=50, activation=activation)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(8, dtype, seed=51)
    with torch.no_grad():
        out, _, _ = block(x, memory)
    torch.testing.assert_close(out, call_torch(layer, x, memory), **tol(dtype))


def test_gradients_match_torch():
    """The same loss through both gives the same gradients for x and memory (float64)."""
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=55)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(8, dtype, seed=56)
    ours = [t.clone().requires_grad_(True) for t in (x, memory)]
    theirs = [t.clone().requires_grad_(True) for t in (x, memory)]
    self_mask, memory_mask, pad, causal = make_masks("both")
    upstream = randn(BATCH, M, 8, dtype=dtype, seed=57)
    (block(*ours, self_mask, memory_mask)[0] * upstream).sum().backward()
    (layer(*theirs, tgt_mask=~causal, memory_key_padding_mask=~pad) * upstream).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-11)
    assert ours[1].grad.abs().sum() > 0


# ================================================================ DecoderBlock by hand
def block_by_hand(block: DecoderBlock, x, memory, self_mask, memory_mask):
    """x = LN(x + SelfMHA(x)); x = LN(x + CrossMHA(x, memory)); x = LN(x + FFN(x)),
    LayerNorm and FFN written out."""
    def layer_norm(y, norm):
        mean = y.mean(-1, keepdim=True)
        var = y.var(-1, unbiased=False, keepdim=True)
        return (y - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias

    h = layer_norm(x + block.self_attention(x, x, x, self_mask)[0], block.norm1)
    h = layer_norm(h + block.cross_attention(h, memory, memory, memory_mask)[0], block.norm2)
    lin1, lin2 = block.ffn.linear1, block.ffn.linear2
    ffn = torch.relu(h @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias
    return layer_norm(h + ffn, block.norm3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fresh_block_is_post_norm_by_hand(dtype):
    torch.manual_seed(60)
    block = DecoderBlock(12, 4, 24).to(dtype).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine
        for i, norm in enumerate((block.norm1, block.norm2, block.norm3)):
            norm.weight.copy_(1 + randn(12, dtype=dtype, seed=61 + i) * 0.3)
            norm.bias.copy_(randn(12, dtype=dtype, seed=71 + i) * 0.3)
    x, memory = inputs(12, dtype, seed=63)
    self_mask, memory_mask, _, _ = make_masks("both")
    with torch.no_grad():
        out, _, _ = block(x, memory, self_mask, memory_mask)
        ref = block_by_hand(block, x, memory, self_mask, memory_mask)
    torch.testing.assert_close(out, ref, **tol(dtype))


def test_block_rejects_bad_input():
    block = DecoderBlock(8, 2, 16)
    x, memory = inputs(8, torch.float32)
    with pytest.raises(ValueError, match=r"memory must have shape \(batch, n, 8\)"):
        block(x, memory[..., :6])
    with pytest.raises(ValueError, match=r"x must have .*shape \(batch, m, 8\)"):
        block(x[0], memory)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, m, 8\)"):
        block(x[..., :4], memory)
    with pytest.raises(ValueError, match="same batch size"):
        block(x, memory[:2])
    with pytest.raises(TypeError, match="memory must be a torch.Tensor"):
        block(x, memory.tolist())
    with pytest.raises(ValueError, match="mask of shape"):
        block(x, memory, causal_mask(M + 1))


# ======================================================================== causality
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("j", [0, 2, M - 1])
def test_decoder_block_is_causal(dtype, j):
    """Changing the input at position j changes no output before j — and does change the
    outputs from j on. Without the causal mask it would change them all (the check can fail)."""
    torch.manual_seed(80)
    block = DecoderBlock(16, 4, 32).to(dtype).eval()
    x, memory = inputs(16, dtype, seed=81)
    changed = x.clone()
    changed[:, j] = randn(BATCH, 16, dtype=dtype, seed=82)
    memory_mask = source_padding()[:, None, None, :]
    with torch.no_grad():
        out, _, _ = block(x, memory, causal_mask(M), memory_mask)
        out_changed, _, _ = block(changed, memory, causal_mask(M), memory_mask)
        unmasked, _, _ = block(x, memory, None, memory_mask)
        unmasked_changed, _, _ = block(changed, memory, None, memory_mask)
    assert torch.equal(out[:, :j], out_changed[:, :j])
    assert (out[:, j:] - out_changed[:, j:]).abs().amax(dim=-1).min() > 1e-3
    assert (unmasked - unmasked_changed).abs().amax(dim=-1).min() > 1e-3


# ========================================================================== the cache
def run_steps(block: DecoderBlock, x, memory, memory_mask):
    """The block one position at a time: outputs and weights per step, and the caches."""
    cache = block.start_cache(memory)
    outs, self_ws, cross_ws, caches = [], [], [], []
    for t in range(x.shape[1]):
        out, self_w, cross_w, cache = block.step(x[:, t:t + 1], cache, memory_mask)
        outs.append(out)
        self_ws.append(self_w)
        cross_ws.append(cross_w)
        caches.append(cache)
    return torch.cat(outs, dim=1), self_ws, cross_ws, caches


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d_model", "num_heads", "d_ff"), SIZES, ids=str)
def test_step_by_step_with_cache_equals_forward(dtype, d_model, num_heads, d_ff):
    layer = torch_layer(d_model, num_heads, d_ff, dtype, seed=90)
    block = DecoderBlock.from_torch(layer).eval()
    x, memory = inputs(d_model, dtype, seed=91, m=9)
    pad = source_padding()
    with torch.no_grad():
        full, self_w, cross_w = block(x, memory, causal_mask(9), pad[:, None, None, :])
        stepped, self_ws, cross_ws, caches = run_steps(block, x, memory, pad[:, None, None, :])
    err = (stepped - full).abs().max().item()
    print(f"cached vs full forward, {dtype}, d{d_model}h{num_heads}: max abs error {err:.3e}"
          f"{' (bit for bit)' if err == 0 else ''}")
    assert stepped.shape == full.shape and stepped.dtype == dtype
    torch.testing.assert_close(stepped, full, rtol=CACHE_RTOL[dtype], atol=CACHE_ERROR[dtype])
    for t in range(9):
        assert self_ws[t].shape == (BATCH, num_heads, 1, t + 1)
        assert cross_ws[t].shape == (BATCH, num_heads, 1, N)
        torch.testing.assert_close(self_ws[t], self_w[:, :, t:t + 1, :t + 1],
                                   rtol=0, atol=CACHE_ERROR[dtype])
        torch.testing.assert_close(cross_ws[t], cross_w[:, :, t:t + 1],
                                   rtol=0, atol=CACHE_ERROR[dtype])
        assert caches[t].length == t + 1
        assert caches[t].self_key.shape == (BATCH, num_heads, t + 1, d_model // num_heads)
    # The whole thing is torch's output too.
    assert (stepped - call_torch(layer, x, memory, pad, causal_mask(9))).abs().max() < (
        MAX_ABS_ERROR[dtype])


def test_cache_holds_the_projected_keys_and_values():
    torch.manual_seed(95)
    block = DecoderBlock(8, 2, 16).double().eval()
    x, memory = inputs(8, torch.float64, seed=96)
    with torch.no_grad():
        _, _, _, caches = run_steps(block, x, memory, None)
        k, v = block.self_attention.project_key_value(x, x)
        mk, mv = block.cross_attention.project_key_value(memory, memory)
    last = caches[-1]
    assert isinstance(last, LayerCache)
    torch.testing.assert_close(last.self_key, k, rtol=0, atol=1e-12)
    torch.testing.assert_close(last.self_value, v, rtol=0, atol=1e-12)
    assert torch.equal(last.memory_key, mk) and torch.equal(last.memory_value, mv)
    # Every step's cache extends the previous one; the memory part is the very same tensor.
    for before, after in itertools.pairwise(caches):
        assert torch.equal(after.self_key[:, :, :before.length], before.self_key)
        assert after.memory_key is before.memory_key


def test_step_projects_each_key_once():
    """With the cache, a step projects one new position for the self-attention and nothing for
    the cross-attention (its keys were projected once, by start_cache)."""
    torch.manual_seed(97)
    block = DecoderBlock(8, 2, 16).eval()
    x, memory = inputs(8, torch.float32, seed=98)
    rows: dict[str, list[int]] = {"self": [], "cross": []}
    for name, mha in (("self", block.self_attention), ("cross", block.cross_attention)):
        mha.w_key.register_forward_hook(
            lambda module, args, out, name=name: rows[name].append(args[0].shape[1]))
    with torch.no_grad():
        cache = block.start_cache(memory)
        assert rows == {"self": [], "cross": [N]}
        for t in range(M):
            _, _, _, cache = block.step(x[:, t:t + 1], cache)
    assert rows == {"self": [1] * M, "cross": [N]}


def test_step_rejects_bad_input():
    block = DecoderBlock(8, 2, 16)
    x, memory = inputs(8, torch.float32)
    cache = block.start_cache(memory)
    with pytest.raises(ValueError, match="x_t must hold one position"):
        block.step(x[:, :2], cache)
    with pytest.raises(TypeError, match="cache must be a LayerCache"):
        block.step(x[:, :1], (cache.memory_key, cache.memory_value))
    with pytest.raises(ValueError, match="batch size"):
        block.step(x[:2, :1], cache)
    with pytest.raises(ValueError, match="memory must have shape"):
        block.start_cache(memory[..., :4])


# ====================================================== MultiHeadAttention: unchanged forward
def old_forward(mha: MultiHeadAttention, query, key, value, mask=None):
    """MultiHeadAttention.forward as it was before project_key_value/attend existed."""
    q = split_heads(mha.w_query(query), mha.num_heads)
    k = split_heads(mha.w_key(key), mha.num_heads)
    v = split_heads(mha.w_value(value), mha.num_heads)
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)
    heads, weights = scaled_dot_product_attention(q, k, v, mask)
    return mha.w_out(merge_heads(heads)), weights


def mha_case(dtype, cross: bool, mask_kind: str, seed: int = 0):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(12, 3).to(dtype)
    query = randn(2, 5, 12, dtype=dtype, seed=seed + 1)
    key = randn(2, 7, 12, dtype=dtype, seed=seed + 2) if cross else query
    value = randn(2, 7, 12, dtype=dtype, seed=seed + 3) if cross else query
    n_k = key.shape[1]
    pad = torch.arange(n_k) < torch.tensor([n_k, 3])[:, None]
    mask = {"none": None, "3d": pad[:, None, :].expand(2, 5, n_k),
            "4d": pad[:, None, None, :]}[mask_kind]
    return mha, query, key, value, mask


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
@pytest.mark.parametrize("mask_kind", ["none", "3d", "4d"])
def test_multi_head_forward_is_bit_for_bit_the_old_forward(dtype, cross, mask_kind):
    mha, query, key, value, mask = mha_case(dtype, cross, mask_kind)
    out, weights = mha(query, key, value, mask)
    ref, ref_weights = old_forward(mha, query, key, value, mask)
    assert torch.equal(out, ref) and torch.equal(weights, ref_weights)
    split, split_weights = mha.attend(query, *mha.project_key_value(key, value), mask)
    assert torch.equal(out, split) and torch.equal(weights, split_weights)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_head_forward_still_matches_torch(dtype):
    torch.manual_seed(3)
    module = nn.MultiheadAttention(12, 3, batch_first=True).to(dtype).eval()
    with torch.no_grad():
        module.in_proj_bias.copy_(randn(36, dtype=dtype, seed=4))
    mha = MultiHeadAttention.from_torch(module)
    _, query, key, value, _ = mha_case(dtype, True, "none", seed=5)
    pad = torch.arange(7) < torch.tensor([7, 3])[:, None]
    out, weights = mha(query, key, value, pad[:, None, None, :])
    with torch.enable_grad():
        ref, ref_weights = module(query, key, value, key_padding_mask=~pad,
                                  average_attn_weights=False)
    assert (out - ref).abs().max() < {torch.float32: 1e-6, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(weights, ref_weights, **tol(dtype))


def test_attend_over_keys_projected_in_pieces():
    """Keys and values projected in two pieces and concatenated are those of the whole: the
    key/value cache's principle."""
    mha, query, key, value, mask = mha_case(torch.float64, True, "4d", seed=6)
    k1, v1 = mha.project_key_value(key[:, :3], value[:, :3])
    k2, v2 = mha.project_key_value(key[:, 3:], value[:, 3:])
    out, weights = mha.attend(query, torch.cat([k1, k2], 2), torch.cat([v1, v2], 2), mask)
    ref, ref_weights = mha(query, key, value, mask)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(weights, ref_weights, rtol=0, atol=1e-12)


def test_project_key_value_and_attend_reject_bad_input():
    mha, query, key, value, _ = mha_case(torch.float32, True, "none")
    k, v = mha.project_key_value(key, value)
    assert k.shape == v.shape == (2, 3, 7, 4)
    with pytest.raises(ValueError, match=r"key must have shape \(batch, n_k, 12\)"):
        mha.project_key_value(key[..., :8], value)
    with pytest.raises(ValueError, match="key and value must have the same"):
        mha.project_key_value(key, value[:, :4])
    with pytest.raises(TypeError, match="value is torch.float64"):
        mha.project_key_value(key, value.double())
    with pytest.raises(ValueError, match=r"k_heads must have shape \(batch, 3, n_k, 4\)"):
        mha.attend(query, k.reshape(2, 4, 7, 3), v)
    with pytest.raises(ValueError, match="v_heads must have shape"):
        mha.attend(query, k, v[:, :, :, :2])
    with pytest.raises(ValueError, match="same length n_k"):
        mha.attend(query, k, v[:, :, :5])
    with pytest.raises(ValueError, match="same batch size"):
        mha.attend(query[:1], k, v)
    with pytest.raises(TypeError, match="k_heads is torch.float64"):
        mha.attend(query, k.double(), v)
    with pytest.raises(ValueError, match=r"query must have shape \(batch, n_q, 12\)"):
        mha.attend(query[..., :4], k, v)


# ====================================================================== the Transformer
SOURCE_VOCAB, TARGET_VOCAB = 11, 13


def tiny_transformer(seed: int = 0, dtype=torch.float32, **sizes) -> Transformer:
    torch.manual_seed(seed)
    sizes = {"d_model": 16, "num_heads": 2, "d_ff": 32, "num_layers": 2, "max_length": 40,
             **sizes}
    return Transformer(SOURCE_VOCAB, TARGET_VOCAB, **sizes).to(dtype).eval()


def random_batch(seed: int = 0, batch: int = 4, n: int = 6, m: int = 5) -> Batch:
    """Source lengths n, 2, 4, 1 (padding) and targets with padding after <eos>."""
    g = torch.Generator().manual_seed(seed)
    source_mask = torch.arange(n) < torch.tensor([n, 2, 4, 1][:batch])[:, None]
    source = torch.randint(3, SOURCE_VOCAB, (batch, n), generator=g).masked_fill(~source_mask,
                                                                                 0)
    target_lengths = torch.tensor([m, 3, 1, 4][:batch])  # words + <eos>
    target_out = torch.randint(3, TARGET_VOCAB, (batch, m), generator=g)
    positions = torch.arange(m)
    target_out = torch.where(positions == target_lengths[:, None] - 1, 2, target_out)
    target_out = target_out.masked_fill(positions >= target_lengths[:, None], 0)
    target_in = torch.cat([torch.ones(batch, 1, dtype=torch.long), target_out[:, :-1]], 1)
    target_in = target_in.masked_fill(target_in == 2, 0)
    return Batch(source, source_mask, target_in, target_out)


def test_transformer_structure():
    model = Transformer(SOURCE_VOCAB, TARGET_VOCAB, d_model=16, num_heads=4, d_ff=24,
                        num_layers=3, max_length=20, dropout=0.1)
    assert len(model.encoder) == len(model.decoder) == 3
    assert all(isinstance(b, EncoderBlock) for b in model.encoder)
    assert all(isinstance(b, DecoderBlock) for b in model.decoder)
    assert model.decoder[0].self_attention.num_heads == 4
    assert model.decoder[0].ffn.linear1.out_features == 24
    assert (model.out.in_features, model.out.out_features) == (16, TARGET_VOCAB)
    assert model.source_embed.padding_idx == model.target_embed.padding_idx == 0
    assert torch.all(model.source_embed.weight[0] == 0)
    assert torch.all(model.target_embed.weight[0] == 0)
    assert model.positions.shape == (20, 16)
    assert "positions" in dict(model.named_buffers())
    torch.testing.assert_close(model.positions, sinusoidal_encoding(20, 16), rtol=0, atol=0)
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.1}


def test_embeddings_are_scaled_and_positioned():
    """The first encoder and decoder blocks read embedding · √d_model + PE[position]."""
    model = tiny_transformer(seed=1)
    batch = random_batch(seed=2)
    seen = {}
    model.encoder[0].register_forward_pre_hook(lambda m, args: seen.update(enc=args[0]))
    model.decoder[0].register_forward_pre_hook(lambda m, args: seen.update(dec=args[0]))
    with torch.no_grad():
        model(batch)
    pe = sinusoidal_encoding(40, 16)
    for key, tokens, table in (("enc", batch.source, model.source_embed),
                               ("dec", batch.target_in, model.target_embed)):
        expected = table.weight[tokens] * 4.0 + pe[:tokens.shape[1]]  # √16 = 4
        torch.testing.assert_close(seen[key], expected, rtol=1e-6, atol=1e-6)
    # Scaled by √d_model, an embedding's entries have variance about 1 (as PE's are ≤ 1).
    scaled = model.source_embed.weight[1:] * 4.0
    assert 0.5 < scaled.var().item() < 2.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_shapes_and_weights(dtype):
    model = tiny_transformer(seed=3, dtype=dtype)
    batch = random_batch(seed=4)
    with torch.no_grad():
        logits, weights = model(batch)
        memory = model.encode(batch.source, batch.source_mask)
        logits2, self_ws, cross_ws = model.decode(batch.target_in, memory, batch.source_mask)
    assert logits.shape == (4, 5, TARGET_VOCAB) and logits.dtype == dtype
    assert weights.shape == (4, 5, 6) and weights.dtype == dtype
    assert memory.shape == (4, 6, 16)
    assert len(self_ws) == len(cross_ws) == 2
    assert all(w.shape == (4, 2, 5, 5) for w in self_ws)
    assert all(w.shape == (4, 2, 5, 6) for w in cross_ws)
    assert torch.equal(logits, logits2)
    torch.testing.assert_close(weights, cross_ws[-1].mean(dim=1), rtol=0, atol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 5, dtype=dtype), **tol(dtype))
    assert torch.all(weights.masked_select(~batch.source_mask[:, None, :]) == 0)
    assert all(torch.all(w.triu(1) == 0) for w in self_ws)  # causal in every layer


def test_loss_is_cross_entropy_over_real_targets():
    model = tiny_transformer(seed=5, dtype=torch.float64)
    batch = random_batch(seed=6)
    logits, _ = model(batch)
    log_probs = torch.log_softmax(logits, dim=-1)
    real = [(i, t) for i in range(4) for t in range(5) if batch.target_out[i, t] != 0]
    assert len(real) < 4 * 5  # some padding to ignore
    expected = -sum(log_probs[i, t, batch.target_out[i, t]] for i, t in real) / len(real)
    torch.testing.assert_close(model.loss(batch), expected, rtol=1e-12, atol=1e-12)


def test_gradients_reach_every_parameter():
    model = tiny_transformer(seed=7).train()
    model.loss(random_batch(seed=8)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.all(model.source_embed.weight.grad[0] == 0)  # <pad> is not learned


def test_transformer_learns_a_batch():
    model = tiny_transformer(seed=9).train()
    batch = random_batch(seed=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


@pytest.mark.parametrize("j", [1, 3])
def test_transformer_is_causal(j):
    """Changing target word j changes no logits before position j (they predict words ≤ j)."""
    model = tiny_transformer(seed=11)
    batch = random_batch(seed=12)
    changed = batch.target_in.clone()
    changed[:, j] = torch.where(changed[:, j] == 5, 6, 5)
    with torch.no_grad():
        logits, _ = model(batch)
        logits_changed, _ = model(Batch(batch.source, batch.source_mask, changed,
                                        batch.target_out))
    assert torch.equal(logits[:, :j], logits_changed[:, :j])
    assert (logits[:, j] - logits_changed[:, j]).abs().amax(dim=-1).min() > 1e-4


def test_source_padding_is_ignored():
    """More padding columns in the source change nothing (they are masked)."""
    model = tiny_transformer(seed=13, dtype=torch.float64)
    batch = random_batch(seed=14)
    wider = Batch(F.pad(batch.source, (0, 3)), F.pad(batch.source_mask, (0, 3)),
                  batch.target_in, batch.target_out)
    with torch.no_grad():
        logits, weights = model(batch)
        logits_wider, weights_wider = model(wider)
    torch.testing.assert_close(logits_wider, logits, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(weights_wider[..., :6], weights, rtol=1e-10, atol=1e-12)
    assert torch.all(weights_wider[..., 6:] == 0)


def test_transformer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="d_model must be even"):
        Transformer(5, 5, d_model=15, num_heads=3)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        Transformer(5, 5, d_model=16, num_heads=3)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        Transformer(5, 5, num_layers=0)
    with pytest.raises(ValueError, match="source_vocab must be a positive int"):
        Transformer(0, 5)
    model = tiny_transformer()
    batch = random_batch()
    with pytest.raises(TypeError, match="batch must be a course_utils.translation.Batch"):
        model((batch.source, batch.source_mask))
    with pytest.raises(TypeError, match="source must be a torch.long tensor"):
        model.encode(batch.source.float(), batch.source_mask)
    with pytest.raises(TypeError, match="source_mask must be a bool tensor"):
        model.encode(batch.source, batch.source_mask.long())
    with pytest.raises(ValueError, match=r"source_mask must have shape \(4, 6\)"):
        model.encode(batch.source, batch.source_mask[:, :5])
    with pytest.raises(ValueError, match="source holds ids outside"):
        model.encode(batch.source + SOURCE_VOCAB, batch.source_mask)
    long_source = torch.ones(1, 41, dtype=torch.long)
    with pytest.raises(ValueError, match="source has 41 positions.*max_length"):
        model.encode(long_source, long_source > 0)
    memory = model.encode(batch.source, batch.source_mask)
    with pytest.raises(ValueError, match="target_in and memory must have the same batch"):
        model.decode(batch.target_in[:2], memory, batch.source_mask)
    with pytest.raises(ValueError, match="memory must have shape"):
        model.decode(batch.target_in, memory[..., :8], batch.source_mask)
    with pytest.raises(ValueError, match="max_length = 41 exceeds"):
        model.translate(batch.source, batch.source_mask, max_length=41)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        model.translate(batch.source, batch.source_mask, max_length=0)
    with pytest.raises(ValueError, match="bos_id must be a token id"):
        model.translate(batch.source, batch.source_mask, max_length=3, bos_id=TARGET_VOCAB)


# ======================================================================= greedy decoding
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translate_with_and_without_cache_agree(dtype, seed):
    model = tiny_transformer(seed=20 + seed, dtype=dtype)
    batch = random_batch(seed=30 + seed)
    for eos_id in (2, -1):  # stopping early, and running to max_length
        cached = model.translate(batch.source, batch.source_mask, max_length=12, eos_id=eos_id)
        recomputed = model.translate(batch.source, batch.source_mask, max_length=12,
                                     eos_id=eos_id, use_cache=False)
        assert torch.equal(cached.tokens, recomputed.tokens)
        steps = cached.tokens.shape[1]
        assert cached.logits.shape == (4, steps, TARGET_VOCAB)
        assert cached.weights.shape == (4, steps, 6)
        if eos_id == -1:
            assert steps == 12
        close = {"rtol": 0, "atol": CACHE_ERROR[dtype] * 10}
        torch.testing.assert_close(cached.logits, recomputed.logits, **close)
        torch.testing.assert_close(cached.weights, recomputed.weights, **close)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_equals_teacher_forcing_on_its_own_words(use_cache):
    """Step t's logits are those of decode() on <bos> + the words produced before t, and the
    word is their argmax (<pad> after the end); the weights are the last block's cross-attention
    averaged over heads."""
    model = tiny_transformer(seed=40, dtype=torch.float64)
    batch = random_batch(seed=41)
    out = model.translate(batch.source, batch.source_mask, max_length=10, use_cache=use_cache)
    fed = torch.cat([torch.ones(4, 1, dtype=torch.long), out.tokens[:, :-1]], dim=1)
    with torch.no_grad():
        memory = model.encode(batch.source, batch.source_mask)
        logits, _, cross = model.decode(fed, memory, batch.source_mask)
    torch.testing.assert_close(out.logits, logits, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.weights, cross[-1].mean(dim=1), rtol=0, atol=1e-12)
    done = torch.zeros(4, dtype=torch.bool)
    for t in range(out.tokens.shape[1]):
        expected = torch.where(done, 0, logits[:, t].argmax(dim=-1))
        assert torch.equal(out.tokens[:, t], expected)
        done |= expected == 2
    assert done.all() or out.tokens.shape[1] == 10


def biased_model(word: int) -> Transformer:
    """Whatever the input, the output layer says ``word``."""
    model = tiny_transformer(seed=50)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(-5.0)
        model.out.bias[word] = 5.0
    return model


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_stops_when_eos_is_the_argmax(use_cache):
    batch = random_batch(seed=51)
    out = biased_model(2).translate(batch.source, batch.source_mask, max_length=10,
                                    use_cache=use_cache)
    assert torch.equal(out.tokens, torch.full((4, 1), 2))
    assert out.logits.shape == (4, 1, TARGET_VOCAB) and out.weights.shape == (4, 1, 6)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_without_eos_runs_to_max_length(use_cache):
    batch = random_batch(seed=52)
    out = biased_model(7).translate(batch.source, batch.source_mask, max_length=6,
                                    use_cache=use_cache)
    assert torch.equal(out.tokens, torch.full((4, 6), 7))


class ScriptedOutput(nn.Module):
    """An output layer that says ``script[t][i]`` for sentence i at step t (at the last
    position it is given, which is the new one with or without the cache)."""

    def __init__(self, script: list[list[int]], vocab: int) -> None:
        super().__init__()
        self.script, self.vocab, self.calls = script, vocab, 0

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits = torch.full((*h.shape[:-1], self.vocab), -1.0, dtype=h.dtype)
        rows = torch.arange(h.shape[0])
        logits[rows, -1, torch.tensor(self.script[self.calls])] = 1.0
        self.calls += 1
        return logits


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_pads_after_eos_and_feeds_back_its_own_words(use_cache):
    model = tiny_transformer(seed=53)
    script = [[5, 2, 7, 8], [6, 9, 2, 8], [2, 9, 9, 8], [9, 9, 9, 2], [9, 9, 9, 9]]
    model.out = ScriptedOutput(script, TARGET_VOCAB)
    fed = []
    model.target_embed.register_forward_hook(lambda m, args, out: fed.append(args[0][:, -1]))
    batch = random_batch(seed=54)
    out = model.translate(batch.source, batch.source_mask, max_length=20, use_cache=use_cache)
    assert torch.equal(out.tokens, torch.tensor([[5, 6, 2, 0],
                                                 [2, 0, 0, 0],
                                                 [7, 2, 0, 0],
                                                 [8, 8, 8, 2]]))
    assert model.out.calls == len(fed) == 4  # stopped once the last sentence ended
    assert torch.equal(fed[0], torch.ones(4, dtype=torch.long))  # <bos>
    for t in range(1, 4):  # its own previous word, <pad> after the end
        assert torch.equal(fed[t], out.tokens[:, t - 1])


def test_translate_leaves_the_mode_alone_and_greedy_decode_dispatches():
    model = tiny_transformer(seed=55).train()
    batch = random_batch(seed=56)
    out = model.translate(batch.source, batch.source_mask, max_length=8)
    assert model.training
    decoded = greedy_decode(model, batch.source, batch.source_mask, max_length=8)
    assert not model.training  # greedy_decode evaluates in eval mode, as for Seq2Seq
    assert isinstance(decoded, Translation)
    assert torch.equal(decoded.tokens, out.tokens)
    torch.testing.assert_close(decoded.logits, out.logits, rtol=0, atol=0)


def test_greedy_decode_of_a_seq2seq_is_unchanged(task):
    """A Seq2Seq still decodes with its own decoder (no logits kept)."""
    torch.manual_seed(0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "dot", embed_size=8,
                    hidden_size=8)
    batch = make_batch([(("ka", "lo"), task.translate(("ka", "lo")))], task)
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=5)
    with torch.no_grad():
        states, final = model.encoder(batch.source, batch.source_mask)
        ref = seq2seq.decode_greedy(model.decoder, states, final, batch.source_mask, 5)
    assert out.logits is None
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.weights, ref.weights)


# ==================================================================== evaluate_by_length
def test_evaluate_by_length_on_a_tiny_transformer(task):
    pairs = task.split(n_train=10, n_test=30, train_lengths=(3, 6), long_lengths=(7, 8),
                       n_long=6, seed=0)
    pairs = pairs["test"] + pairs["long"]
    torch.manual_seed(0)
    model = Transformer(len(task.source_vocab), len(task.target_vocab), d_model=16,
                        num_heads=2, d_ff=32, num_layers=1, max_length=20)
    buckets = [(3, 4), (5, 6), (7, 8), (20, 30)]
    assert list(evaluate_by_length(model, task, pairs, buckets, batch_size=8)) == [
        "3–4", "5–6", "7–8"]  # in batches of 8 (en dash; the empty bucket is left out)
    results = evaluate_by_length(model, task, pairs, buckets)  # each bucket in one batch
    assert list(results) == ["3–4", "5–6", "7–8"]
    for (lo, hi), (exact, token) in zip(buckets, results.values(), strict=False):
        chosen = [p for p in pairs if lo <= len(p[0]) <= hi]
        batch = make_batch(chosen, task)
        out = model.translate(batch.source, batch.source_mask,
                              max_length=batch.target_out.shape[1] + 5)
        predicted = [task.target_vocab.decode(row) for row in out.tokens]
        expected = exact_and_token_accuracy(predicted, [t for _, t in chosen])
        assert (exact, token) == pytest.approx(expected)
    # A model that always says <eos> gets every non-empty sentence wrong.
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(-5.0)
        model.out.bias[task.target_vocab.eos_id] = 5.0
    assert set(evaluate_by_length(model, task, pairs, buckets).values()) == {(0.0, 0.0)}
