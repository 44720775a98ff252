"""course_utils.transformer (FeedForward, EncoderBlock) against
torch.nn.TransformerEncoderLayer(batch_first=True, norm_first=False, activation="relu" or
"gelu") and against hand computations. MultiHeadAttention itself is tested in
test_attention_multihead.py.

Mask conventions: ours are True = may attend; torch's boolean masks are True = masked, so they
are inverted at the boundary (src_mask=~causal, src_key_padding_mask=~pad).

torch's layer runs a fused "fast path" (torch._transformer_encoder_layer_fwd) in eval mode when
grad is off and num_heads is even, and the plain Python path otherwise; both are compared.
"""

from __future__ import annotations

import pytest
import torch
from numerics import randn, randomised_layer
from torch import nn
from torch_layers import (
    CASES,
    DTYPES,
    GELU_SPELLINGS,
    MASKS,
    MAX_ABS_ERROR,
    PATHS,
    REFUSED_LAYOUTS,
    RELU_SPELLINGS,
    assert_a_copy,
    assert_attention_copied,
    assert_same_weights_and_biases,
    assert_worst_error_below_tolerance,
    case_id,
    feed_forward,
    gelu,
    layer_norm,
    run_torch,
    tol,
)

from course_utils.attention import MultiHeadAttention
from course_utils.transformer import EncoderBlock, FeedForward

torch.set_num_threads(1)

BATCH, N = 3, 6


def torch_layer(d_model: int, num_heads: int, d_ff: int, dtype: torch.dtype, seed: int = 0,
                dropout: float = 0.0, **kwargs) -> nn.TransformerEncoderLayer:
    """torch's layer in eval mode, with random biases and LayerNorm affine."""
    return randomised_layer(nn.TransformerEncoderLayer, d_model, num_heads, d_ff, dtype, seed,
                            dropout, **kwargs)


def make_masks(masks: str, batch: int = BATCH, n: int = N):
    """(our mask, pad, causal); pad and causal are True = keep. Padding removes keys at the end
    only and causal keeps key 0, so no row is fully masked."""
    pad = causal = ours = None
    if masks in ("padding", "both"):
        lengths = torch.tensor([n, 2, 4, 1, 5][:batch])
        pad = torch.arange(n) < lengths[:, None]  # (batch, n)
    if masks in ("causal", "both"):
        causal = torch.ones(n, n, dtype=torch.bool).tril()  # (n, n)
    if masks == "padding":
        ours = pad[:, None, None, :]  # (batch, 1, 1, n)
    elif masks == "causal":
        ours = causal
    elif masks == "both":
        ours = pad[:, None, None, :] & causal  # (batch, 1, n, n)
    return ours, pad, causal


def call_torch(layer: nn.TransformerEncoderLayer, x: torch.Tensor, pad=None, causal=None,
               path: str = "slow") -> torch.Tensor:
    return run_torch(layer, x, path=path, src_mask=None if causal is None else ~causal,
                     src_key_padding_mask=None if pad is None else ~pad)


def compare(dtype, sizes, masks, path, seed=0):
    """Our output and torch's on the same input."""
    d_model, num_heads, d_ff = sizes
    layer = torch_layer(d_model, num_heads, d_ff, dtype, seed=seed)
    block = EncoderBlock.from_torch(layer).eval()
    x = randn(BATCH, N, d_model, dtype=dtype, seed=seed + 1) * 2
    ours_mask, pad, causal = make_masks(masks)
    with torch.no_grad():
        out, weights = block(x, ours_mask)
    return out, weights, call_torch(layer, x, pad, causal, path)


# ===================================================================== from_torch vs PyTorch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_from_torch_matches_transformer_encoder_layer(case):
    dtype, (d_model, num_heads, _), masks, path = case
    out, weights, ref = compare(*case)
    assert out.shape == ref.shape == (BATCH, N, d_model) and out.dtype == dtype
    assert weights.shape == (BATCH, num_heads, N, N) and weights.dtype == dtype
    assert torch.isfinite(ref).all()
    # All rows are compared, padded ones included: they still attend to the real tokens, and
    # torch's fast path gives the same there (checked: it does on CPU).
    err = (out - ref).abs().max().item()
    assert err < MAX_ABS_ERROR[dtype], (
        f"max abs error {err:.3e} > {MAX_ABS_ERROR[dtype]:g} ({case_id(case)})")


def test_max_abs_error_against_torch_is_below_tolerance():
    """The acceptance number: max |ours − torch| over every case, per dtype."""
    def errors():
        for case in CASES:
            out, _, ref = compare(*case, seed=5)
            yield case[0], (out - ref).abs().max().item()

    assert_worst_error_below_tolerance(errors(), "torch.nn.TransformerEncoderLayer", len(CASES))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", MASKS)
def test_weights_are_torch_self_attention_weights(dtype, masks):
    """The returned weights are those of the block's self-attention on its input."""
    layer = torch_layer(12, 3, 24, dtype, seed=10)
    block = EncoderBlock.from_torch(layer).eval()
    x = randn(BATCH, N, 12, dtype=dtype, seed=11)
    ours_mask, pad, causal = make_masks(masks)
    with torch.no_grad():
        _, weights = block(x, ours_mask)
        _, ref = layer.self_attn(x, x, x, key_padding_mask=None if pad is None else ~pad,
                                 attn_mask=None if causal is None else ~causal,
                                 need_weights=True, average_attn_weights=False)
    assert weights.shape == ref.shape == (BATCH, 3, N, N)
    torch.testing.assert_close(weights, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_torch_copies_parameters(dtype):
    layer = torch_layer(8, 2, 16, dtype, seed=20, layer_norm_eps=1e-3)
    block = EncoderBlock.from_torch(layer)
    assert all(p.dtype == dtype for p in block.parameters())
    assert isinstance(block.attention, MultiHeadAttention)
    assert (block.attention.d_model, block.attention.num_heads) == (8, 2)
    assert (block.ffn.linear1.in_features, block.ffn.linear1.out_features) == (8, 16)
    assert_same_weights_and_biases([(block.ffn.linear1, layer.linear1),
                                    (block.ffn.linear2, layer.linear2),
                                    (block.norm1, layer.norm1), (block.norm2, layer.norm2)])
    assert_attention_copied(block.attention, layer.self_attn, d=8)
    assert_a_copy(block, layer)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
def test_layer_norm_eps_copied(dtype, eps):
    """A large eps changes the output a lot, so a missed copy cannot hide."""
    layer = torch_layer(8, 2, 16, dtype, seed=30, layer_norm_eps=eps)
    block = EncoderBlock.from_torch(layer).eval()
    assert block.norm1.eps == block.norm2.eps == eps
    x = randn(2, 5, 8, dtype=dtype, seed=31) * 0.3  # small activations: eps matters
    with torch.no_grad():
        out, _ = block(x)
    for path in PATHS:
        ref = call_torch(layer, x, path=path)
        err = (out - ref).abs().max().item()
        assert err < MAX_ABS_ERROR[dtype], f"eps={eps}, {path}: max abs error {err:.3e}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_copied_and_eval_matches(dtype, p):
    layer = torch_layer(16, 4, 32, dtype, seed=40, dropout=p)
    block = EncoderBlock.from_torch(layer)
    dropouts = [m for m in block.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 3 and all(m.p == p for m in dropouts)
    block.eval()
    x = randn(BATCH, N, 16, dtype=dtype, seed=41)
    ours_mask, pad, causal = make_masks("both")
    with torch.no_grad():
        out, _ = block(x, ours_mask)
        again, _ = block(x, ours_mask)
    assert torch.equal(out, again)  # eval: no randomness left
    for path in PATHS:
        err = (out - call_torch(layer, x, pad, causal, path)).abs().max().item()
        assert err < MAX_ABS_ERROR[dtype], f"dropout={p}, {path}: max abs error {err:.3e}"
    # And in train mode dropout does act (so the eval() above was needed).
    block.train()
    torch.manual_seed(42)
    with torch.no_grad():
        noisy, _ = block(x, ours_mask)
    assert (noisy - out).abs().max() > 1e-3


def test_dropout_one_in_train_mode_matches_torch():
    """With p = 1 every dropout zeroes its input, deterministically: the block reduces to
    LayerNorm₂(LayerNorm₁(x)) — in ours and in torch's layer (train mode, slow path)."""
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=45, dropout=1.0).train()
    block = EncoderBlock.from_torch(layer).train()
    x = randn(2, 5, 8, dtype=dtype, seed=46)
    out, _ = block(x)
    ref = layer(x)
    torch.testing.assert_close(out, ref, **tol(dtype))
    by_hand = block.norm2(block.norm1(x))
    torch.testing.assert_close(out, by_hand, **tol(dtype))


def test_dropout_zero_copy_matches_without_eval():
    """from_torch gives a module in train mode; with dropout 0 that makes no difference."""
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=47)
    block = EncoderBlock.from_torch(layer)
    x = randn(2, 5, 8, dtype=dtype, seed=48)
    out, _ = block(x)
    torch.testing.assert_close(out, call_torch(layer, x), **tol(dtype))


# ======================================================================= from_torch rejects
@pytest.mark.parametrize("bad", [nn.Linear(8, 8), nn.MultiheadAttention(8, 2),
                                 nn.TransformerDecoderLayer(8, 2, 16, batch_first=True),
                                 EncoderBlock(8, 2, 16), "layer", None],
                         ids=["Linear", "MultiheadAttention", "DecoderLayer", "EncoderBlock",
                              "str", "None"])
def test_from_torch_rejects_non_layers(bad):
    with pytest.raises(TypeError, match="torch.nn.TransformerEncoderLayer"):
        EncoderBlock.from_torch(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [*REFUSED_LAYOUTS,
     pytest.param({"batch_first": True, "activation": nn.Tanh()}, "relu", id="nn.Tanh"),
     pytest.param({"batch_first": True, "activation": nn.GELU(approximate="tanh")}, "gelu",
                  id="tanh-GELU")],
)
def test_from_torch_rejects_other_layouts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncoderBlock.from_torch(nn.TransformerEncoderLayer(8, 2, 16, **kwargs))


@pytest.mark.parametrize("activation", RELU_SPELLINGS)
def test_from_torch_accepts_every_spelling_of_relu(activation):
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=50, activation=activation)
    block = EncoderBlock.from_torch(layer).eval()
    x = randn(2, 5, 8, dtype=dtype, seed=51)
    with torch.no_grad():
        out, _ = block(x)
    torch.testing.assert_close(out, call_torch(layer, x), **tol(dtype))


# ====================================================================== GELU (BERT's block)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", MASKS)
@pytest.mark.parametrize("path", PATHS)
def test_gelu_block_matches_torch_gelu_layer(dtype, masks, path):
    """EncoderBlock(..., activation="gelu") = TransformerEncoderLayer(activation="gelu",
    batch_first=True) in eval mode, with BERT's eps copied too (both of torch's paths)."""
    layer = torch_layer(16, 4, 32, dtype, seed=56, activation="gelu", layer_norm_eps=1e-12)
    block = EncoderBlock.from_torch(layer).eval()
    assert block.ffn.activation == "gelu" and block.norm1.eps == block.norm2.eps == 1e-12
    x = randn(BATCH, N, 16, dtype=dtype, seed=57) * 2
    ours_mask, pad, causal = make_masks(masks)
    with torch.no_grad():
        out, _ = block(x, ours_mask)
    err = (out - call_torch(layer, x, pad, causal, path)).abs().max().item()
    assert err < MAX_ABS_ERROR[dtype], f"max abs error {err:.3e} ({masks}, {path})"


@pytest.mark.parametrize("activation", GELU_SPELLINGS)
def test_from_torch_accepts_every_spelling_of_gelu(activation):
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=58, activation=activation)
    block = EncoderBlock.from_torch(layer).eval()
    assert block.ffn.activation == "gelu"
    x = randn(2, 5, 8, dtype=dtype, seed=59)
    with torch.no_grad():
        out, _ = block(x)
    torch.testing.assert_close(out, call_torch(layer, x), **tol(dtype))


def test_fresh_gelu_block_by_hand():
    """A block built with activation="gelu" and layer_norm_eps: LN(x + MHA(x)), then
    LN(h + W₂ GELU(W₁ h + b₁) + b₂), with GELU(z) = z Φ(z) written out with erf."""
    torch.manual_seed(64)
    dtype = torch.float64
    block = EncoderBlock(12, 3, 24, activation="gelu", layer_norm_eps=1e-12).to(dtype).eval()
    assert block.norm1.eps == block.norm2.eps == 1e-12
    x = randn(BATCH, N, 12, dtype=dtype, seed=65)
    with torch.no_grad():
        out, _ = block(x)
        attended, _ = block.attention(x, x, x)
        h = layer_norm(x + attended, block.norm1)
        ref = layer_norm(h + feed_forward(block.ffn, h, gelu), block.norm2)
        relu_ref = layer_norm(h + feed_forward(block.ffn, h), block.norm2)
    torch.testing.assert_close(out, ref, **tol(dtype))
    assert (out - relu_ref).abs().max() > 1e-3  # GELU is not ReLU here


def test_defaults_stay_relu_and_torch_eps():
    block = EncoderBlock(8, 2, 16)
    assert block.ffn.activation == "relu" and FeedForward(8, 16).activation == "relu"
    assert block.norm1.eps == block.norm2.eps == 1e-5


@pytest.mark.parametrize("bad", ["tanh", "GELU", "", None, torch.relu], ids=repr)
def test_bad_activation_names_the_options(bad):
    for build in (lambda: EncoderBlock(8, 2, 16, activation=bad),
                  lambda: FeedForward(8, 16, activation=bad)):
        with pytest.raises(ValueError, match=r"activation must be one of 'relu', 'gelu'"):
            build()


@pytest.mark.parametrize("bad", [0, -1e-5, float("nan")], ids=repr)
def test_bad_layer_norm_eps_is_named(bad):
    with pytest.raises(ValueError, match="layer_norm_eps"):
        EncoderBlock(8, 2, 16, layer_norm_eps=bad)


def test_from_torch_layer_without_bias():
    """A TransformerEncoderLayer(..., bias=False) is batch-first, post-norm and ReLU: its copy
    (zero biases) must give the same output, and keep the layer's train/eval mode."""
    dtype = torch.float64
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                       bias=False).to(dtype).eval()
    block = EncoderBlock.from_torch(layer)
    assert not block.training
    x = randn(2, 5, 8, dtype=dtype, seed=55)
    with torch.no_grad():
        out, _ = block(x)
    torch.testing.assert_close(out, call_torch(layer, x), **tol(dtype))


# ============================================================================ block by hand
def block_by_hand(block: EncoderBlock, x: torch.Tensor, mask=None) -> torch.Tensor:
    """x = LN(x + MHA(x)); x = LN(x + W₂ relu(W₁ x + b₁) + b₂), LN written out."""
    attended, _ = block.attention(x, x, x, mask)
    h = layer_norm(x + attended, block.norm1)
    return layer_norm(h + feed_forward(block.ffn, h), block.norm2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", ["none", "both"])
def test_fresh_block_is_post_norm_by_hand(dtype, masks):
    torch.manual_seed(60)
    block = EncoderBlock(12, 4, 24).to(dtype).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine
        for norm in (block.norm1, block.norm2):
            norm.weight.copy_(1 + randn(12, dtype=dtype, seed=61) * 0.3)
            norm.bias.copy_(randn(12, dtype=dtype, seed=62) * 0.3)
    x = randn(BATCH, N, 12, dtype=dtype, seed=63)
    mask, _, _ = make_masks(masks)
    with torch.no_grad():
        out, _ = block(x, mask)
        ref = block_by_hand(block, x, mask)
    torch.testing.assert_close(out, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d_model", "num_heads", "d_ff"), [(8, 2, 16), (32, 4, 64)], ids=str)
def test_output_is_normalised_per_position(dtype, d_model, num_heads, d_ff):
    """Fresh block (LayerNorm weight 1, bias 0): each position's output has mean 0 and
    (biased) variance 1 over the features — up to LayerNorm's eps."""
    torch.manual_seed(70)
    block = EncoderBlock(d_model, num_heads, d_ff).to(dtype)
    assert torch.equal(block.norm2.weight, torch.ones(d_model, dtype=dtype))
    assert torch.equal(block.norm2.bias, torch.zeros(d_model, dtype=dtype))
    x = randn(BATCH, N, d_model, dtype=dtype, seed=71) * 3 + 5  # far from normalised
    mask, _, _ = make_masks("both")
    with torch.no_grad():
        out, _ = block(x, mask)
    mean = out.mean(-1)
    var = out.var(-1, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros_like(mean), rtol=0, atol=1e-5)
    torch.testing.assert_close(var, torch.ones_like(var), rtol=0, atol=1e-3)
    # The last step is norm2: its affine sets the final mean and scale.
    with torch.no_grad():
        block.norm2.weight.fill_(2.0)
        block.norm2.bias.fill_(3.0)
        out2, _ = block(x, mask)
    torch.testing.assert_close(out2, 2 * out + 3, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masks", MASKS)
def test_weights_shape_rows_sum_to_one_and_masks_respected(dtype, masks):
    torch.manual_seed(80)
    block = EncoderBlock(16, 4, 32).to(dtype)
    x = randn(BATCH, N, 16, dtype=dtype, seed=81)
    mask, _, _ = make_masks(masks)
    out, weights = block(x, mask)
    assert out.shape == (BATCH, N, 16) and out.dtype == dtype
    assert weights.shape == (BATCH, 4, N, N) and weights.dtype == dtype
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(BATCH, 4, N, dtype=dtype),
                               **tol(dtype))
    if mask is not None:
        allowed = mask.expand(BATCH, 4, N, N)
        assert torch.all(weights[~allowed] == 0)
        assert torch.all(weights[allowed] > 0)


def test_train_mode_with_zero_dropout_equals_eval():
    torch.manual_seed(90)
    block = EncoderBlock(16, 4, 32, dropout=0.0).double()
    x = randn(BATCH, N, 16, dtype=torch.float64, seed=91)
    mask, _, _ = make_masks("both")
    assert block.training
    train_out, train_weights = block(x, mask)
    block.eval()
    eval_out, eval_weights = block(x, mask)
    assert torch.equal(train_out, eval_out)
    assert torch.equal(train_weights, eval_weights)


# ============================================================================== FeedForward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8,), (5, 8), (2, 5, 8), (2, 3, 4, 8)], ids=str)
def test_feed_forward_by_hand(dtype, shape):
    torch.manual_seed(100)
    ffn = FeedForward(8, 20).to(dtype)
    assert (ffn.linear1.in_features, ffn.linear1.out_features) == (8, 20)
    assert (ffn.linear2.in_features, ffn.linear2.out_features) == (20, 8)
    x = randn(*shape, dtype=dtype, seed=101)
    w1, b1 = ffn.linear1.weight.detach(), ffn.linear1.bias.detach()
    w2, b2 = ffn.linear2.weight.detach(), ffn.linear2.bias.detach()
    flat = x.reshape(-1, 8)
    expected = torch.stack([w2 @ torch.clamp(w1 @ row + b1, min=0) + b2 for row in flat])
    hidden = flat @ w1.T + b1
    assert (hidden < 0).any() and (hidden > 0).any()  # ReLU actually clips something
    with torch.no_grad():
        out = ffn(x)
    assert out.shape == shape and out.dtype == dtype
    torch.testing.assert_close(out, expected.reshape(shape), **tol(dtype))


def test_feed_forward_relu_and_inner_dropout():
    """Hidden units below zero contribute nothing; dropout sits between the two layers."""
    torch.manual_seed(110)
    ffn = FeedForward(6, 10).double()
    x = randn(4, 6, dtype=torch.float64, seed=111)
    with torch.no_grad():
        ffn.linear1.bias.fill_(-1e6)  # every hidden unit negative → ReLU gives 0
        torch.testing.assert_close(ffn(x), ffn.linear2.bias.expand(4, 6), rtol=0, atol=0)
    dropped = FeedForward(6, 10, dropout=1.0).double().train()
    with torch.no_grad():  # p = 1 zeroes the hidden layer, so only b₂ is left
        assert torch.equal(dropped(x), dropped.linear2.bias.expand(4, 6))
        # …and in eval mode it is the identity again.
        w1, b1 = dropped.linear1.weight, dropped.linear1.bias
        w2, b2 = dropped.linear2.weight, dropped.linear2.bias
        torch.testing.assert_close(dropped.eval()(x), torch.relu(x @ w1.T + b1) @ w2.T + b2,
                                   rtol=1e-10, atol=1e-12)


# ================================================================================ gradients
@pytest.mark.parametrize("masks", ["none", "both"])
def test_gradients_reach_all_parameters(masks):
    torch.manual_seed(120)
    block = EncoderBlock(16, 4, 32)
    x = torch.randn(BATCH, N, 16, requires_grad=True)
    mask, _, _ = make_masks(masks)
    out, _ = block(x, mask)
    (out * torch.randn(BATCH, N, 16)).sum().backward()
    params = dict(block.named_parameters())
    assert len(params) == 8 + 4 + 4  # attention, FFN, two LayerNorms
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_gradients_match_torch():
    """The same loss through both gives the same gradients (float64, torch's slow path)."""
    dtype = torch.float64
    layer = torch_layer(8, 2, 16, dtype, seed=130)
    block = EncoderBlock.from_torch(layer).eval()
    x = randn(BATCH, N, 8, dtype=dtype, seed=131)
    x_ours, x_torch = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mask, pad, causal = make_masks("both")
    upstream = randn(BATCH, N, 8, dtype=dtype, seed=132)
    (block(x_ours, mask)[0] * upstream).sum().backward()
    (layer(x_torch, src_mask=~causal, src_key_padding_mask=~pad) * upstream).sum().backward()
    close = {"rtol": 1e-9, "atol": 1e-11}
    torch.testing.assert_close(x_ours.grad, x_torch.grad, **close)
    d = 8
    attention = block.attention
    for i, linear in enumerate((attention.w_query, attention.w_key, attention.w_value)):
        rows = slice(i * d, (i + 1) * d)
        torch.testing.assert_close(linear.weight.grad, layer.self_attn.in_proj_weight.grad[rows],
                                   **close)
        torch.testing.assert_close(linear.bias.grad, layer.self_attn.in_proj_bias.grad[rows],
                                   **close)
    for ours, theirs in ((attention.w_out, layer.self_attn.out_proj),
                         (block.ffn.linear1, layer.linear1), (block.ffn.linear2, layer.linear2),
                         (block.norm1, layer.norm1), (block.norm2, layer.norm2)):
        torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **close)
        torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, **close)
