"""Helpers shared by the tests of the Transformer's blocks against torch.nn's
TransformerEncoderLayer and TransformerDecoderLayer (test_transformer_encoder.py,
test_transformer_decoder.py, test_translation_transformer.py): the cases, the tolerances,
torch's two paths, the checks that a ``from_torch`` copy holds torch's parameters, and the
LayerNorm and feed-forward written out."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
import torch
import torch.nn.functional as F
from numerics import tol as numeric_tol
from torch import nn

DTYPES = [torch.float32, torch.float64]
# The acceptance tolerances: the largest absolute difference to PyTorch.
MAX_ABS_ERROR = {torch.float32: 1e-5, torch.float64: 1e-12}
# Cached (one position at a time) against the full forward with the causal mask.
CACHE_ERROR = {torch.float32: 1e-6, torch.float64: 1e-12}  # allclose: atol …
CACHE_RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}  # … and rtol
# (d_model, num_heads, d_ff): an odd number of heads keeps torch off its fast path.
SIZES = [(8, 2, 16), (12, 3, 20), (16, 4, 32), (6, 1, 7)]
MASKS = ["none", "causal", "padding", "both"]
PATHS = ["fast", "slow"]
CASES = list(itertools.product(DTYPES, SIZES, MASKS, PATHS))

# Layouts every block's from_torch refuses (keyword arguments of the torch layer, what the
# error names).
REFUSED_LAYOUTS = [
    pytest.param({"norm_first": True, "batch_first": True}, "norm_first", id="norm_first"),
    pytest.param({"batch_first": False}, "batch_first", id="seq_first"),
]
# Every way of asking torch for the exact GELU: EncoderBlock.from_torch copies each (BERT's
# block), DecoderBlock.from_torch refuses them.
GELU_SPELLINGS = [pytest.param("gelu", id="str"), pytest.param(F.gelu, id="F"),
                  pytest.param(nn.GELU(), id="module")]
# Layouts DecoderBlock.from_torch refuses: the above and GELU.
OTHER_LAYOUTS = [
    *REFUSED_LAYOUTS,
    pytest.param({"batch_first": True, "activation": "gelu"}, "relu", id="gelu"),
    pytest.param({"batch_first": True, "activation": F.gelu}, "relu", id="F.gelu"),
    pytest.param({"batch_first": True, "activation": nn.GELU()}, "relu", id="nn.GELU"),
]
# Every way of asking torch for ReLU; from_torch accepts each.
RELU_SPELLINGS = [pytest.param("relu", id="str"), pytest.param(F.relu, id="F"),
                  pytest.param(nn.ReLU(), id="module")]


def tol(dtype: torch.dtype) -> dict[str, float]:
    return numeric_tol(dtype, atol32=1e-5)


def case_id(case) -> str:
    dtype, (d, h, ff), masks, path = case
    return f"{str(dtype).removeprefix('torch.')}-d{d}h{h}ff{ff}-{masks}-{path}"


def run_torch(layer: nn.Module, *inputs: torch.Tensor, path: str = "slow",
              **kwargs) -> torch.Tensor:
    """torch's layer on ``inputs``: its fused fast path (eval mode, grad off) or its plain
    Python path (grad on)."""
    if path == "fast":
        with torch.no_grad():
            return layer(*inputs, **kwargs)
    with torch.enable_grad():
        return layer(*inputs, **kwargs).detach()


def assert_worst_error_below_tolerance(errors: Iterable[tuple[torch.dtype, float]],
                                       layer_name: str, n_cases: int) -> None:
    """The acceptance number: the largest of the (dtype, max |ours − torch|) ``errors``, per
    dtype, printed and checked against MAX_ABS_ERROR."""
    worst = {dtype: 0.0 for dtype in DTYPES}
    for dtype, err in errors:
        worst[dtype] = max(worst[dtype], err)
    report = ", ".join(f"{dtype}: {err:.3e}" for dtype, err in worst.items())
    print(f"max abs error against {layer_name} over {n_cases} cases: {report}")
    for dtype, err in worst.items():
        assert err < MAX_ABS_ERROR[dtype], (
            f"max abs error {err:.3e} for {dtype} exceeds {MAX_ABS_ERROR[dtype]:g} ({report})")


def assert_attention_copied(mha: nn.Module, theirs: nn.MultiheadAttention, d: int) -> None:
    """Our MultiHeadAttention holds torch's: the rows of in_proj for W_Q, W_K, W_V, and
    out_proj."""
    for i, linear in enumerate((mha.w_query, mha.w_key, mha.w_value)):
        assert torch.equal(linear.weight, theirs.in_proj_weight[i * d:(i + 1) * d])
        assert torch.equal(linear.bias, theirs.in_proj_bias[i * d:(i + 1) * d])
    assert torch.equal(mha.w_out.weight, theirs.out_proj.weight)
    assert torch.equal(mha.w_out.bias, theirs.out_proj.bias)


def assert_same_weights_and_biases(pairs) -> None:
    for ours, theirs in pairs:
        assert torch.equal(ours.weight, theirs.weight)
        assert torch.equal(ours.bias, theirs.bias)


def assert_a_copy(block: nn.Module, layer: nn.Module) -> None:
    """As many parameters as torch's layer, and a copy, not a view: changing it leaves torch's
    layer alone."""
    assert sum(p.numel() for p in block.parameters()) == sum(
        p.numel() for p in layer.parameters())
    before = [p.detach().clone() for p in layer.parameters()]
    with torch.no_grad():
        for p in block.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))


def layer_norm(y: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """``norm(y)`` written out."""
    mean = y.mean(-1, keepdim=True)
    var = y.var(-1, unbiased=False, keepdim=True)
    return (y - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def gelu(z: torch.Tensor) -> torch.Tensor:
    """The exact GELU written out: z Φ(z) = z · ½ (1 + erf(z / √2))."""
    return z * 0.5 * (1 + torch.erf(z / 2 ** 0.5))


def feed_forward(ffn: nn.Module, h: torch.Tensor, activation=torch.relu) -> torch.Tensor:
    """W₂ relu(W₁ h + b₁) + b₂ (or another ``activation``), written out."""
    lin1, lin2 = ffn.linear1, ffn.linear2
    return activation(h @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias
