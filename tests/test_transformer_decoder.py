"""course_utils.transformer's decoder half (causal_mask, DecoderBlock, LayerCache) and the
key/value-cache API of course_utils.attention.MultiHeadAttention (project_key_value,
attend), against torch.nn.TransformerDecoderLayer(batch_first=True, norm_first=False,
activation="relu"), against hand computations and against each other (cached = uncached).
The whole Transformer built from these blocks is tested in test_translation_transformer.py.

Mask conventions: ours are True = may attend; torch's boolean masks are True = masked, so they
are inverted at the boundary (tgt_mask=~causal, memory_key_padding_mask=~pad).

torch's nn.MultiheadAttention (inside the decoder layer) takes a fused fast path in eval mode
when grad is off, and the plain Python path otherwise; both are compared ("fast", "slow").
"""

from __future__ import annotations

import itertools

import pytest
import torch
from numerics import randn, randomised_layer
from torch import nn
from torch_layers import (
    CACHE_ERROR,
    CACHE_RTOL,
    CASES,
    DTYPES,
    MAX_ABS_ERROR,
    OTHER_LAYOUTS,
    PATHS,
    RELU_SPELLINGS,
    SIZES,
    assert_a_copy,
    assert_attention_copied,
    assert_same_weights_and_biases,
    assert_worst_error_below_tolerance,
    case_id,
    feed_forward,
    layer_norm,
    run_torch,
    tol,
)

from course_utils.attention import (
    MultiHeadAttention,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.transformer import DecoderBlock, LayerCache, causal_mask

torch.set_num_threads(1)

BATCH, M, N = 3, 5, 7  # m target positions, n memory (source) positions


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
    return run_torch(layer, x, memory, path=path, tgt_mask=None if causal is None else ~causal,
                     memory_key_padding_mask=None if pad is None else ~pad)


def inputs(d_model: int, dtype: torch.dtype, seed: int = 0, batch: int = BATCH, m: int = M,
           n: int = N):
    x = randn(batch, m, d_model, dtype=dtype, seed=seed) * 2
    memory = randn(batch, n, d_model, dtype=dtype, seed=seed + 1) * 2
    return x, memory


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
    def errors():
        for case in CASES:
            out, _, _, ref = compare(*case, seed=5)
            yield case[0], (out - ref).abs().max().item()

    assert_worst_error_below_tolerance(errors(), "torch.nn.TransformerDecoderLayer", len(CASES))


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
        assert_attention_copied(mha, theirs, d=8)
    assert_same_weights_and_biases([(block.ffn.linear1, layer.linear1),
                                    (block.ffn.linear2, layer.linear2),
                                    (block.norm1, layer.norm1), (block.norm2, layer.norm2),
                                    (block.norm3, layer.norm3)])
    assert block.norm1.eps == block.norm2.eps == block.norm3.eps == 1e-3
    dropouts = [m for m in block.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 4 and all(m.p == 0.25 for m in dropouts)
    assert_a_copy(block, layer)


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


@pytest.mark.parametrize(("kwargs", "match"), OTHER_LAYOUTS)
def test_from_torch_rejects_other_layouts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecoderBlock.from_torch(nn.TransformerDecoderLayer(8, 2, 16, **kwargs))


@pytest.mark.parametrize("activation", RELU_SPELLINGS)
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
    h = layer_norm(x + block.self_attention(x, x, x, self_mask)[0], block.norm1)
    h = layer_norm(h + block.cross_attention(h, memory, memory, memory_mask)[0], block.norm2)
    return layer_norm(h + feed_forward(block.ffn, h), block.norm3)


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

