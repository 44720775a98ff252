"""course_utils.attention's multi-head part (split_heads, merge_heads, MultiHeadAttention)
against torch.nn.MultiheadAttention and against a head-by-head computation in plain torch.

Mask conventions: ours are True = may attend; torch.nn.MultiheadAttention's boolean masks are
True = masked, so they are inverted at the boundary (key_padding_mask=~pad, attn_mask=~causal).
"""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch
from numerics import gen, randn, tol
from torch import nn

from course_utils.attention import (
    AdditiveAttention,
    MultiHeadAttention,
    merge_heads,
    split_heads,
)

torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
# The acceptance tolerances of the issue: the largest absolute difference to PyTorch.
MAX_ABS_ERROR = {torch.float32: 1e-6, torch.float64: 1e-12}
D_MODEL, NUM_HEADS, BATCH = 8, 2, 2
MASKS = ["none", "padding", "causal", "both"]


def torch_mha(dtype: torch.dtype, bias: bool = True, batch_first: bool = True, seed: int = 0,
              d_model: int = D_MODEL, num_heads: int = NUM_HEADS) -> nn.MultiheadAttention:
    """A torch module in eval mode; its biases (zeros at init) are made random so that copying
    them is tested too."""
    torch.manual_seed(seed)
    module = nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=batch_first)
    module = module.to(dtype).eval()
    if bias:
        with torch.no_grad():
            module.in_proj_bias.copy_(randn(3 * d_model, dtype=dtype, seed=seed + 1000))
            module.out_proj.bias.copy_(randn(d_model, dtype=dtype, seed=seed + 1001))
    return module


def call_torch(module: nn.MultiheadAttention, query, key, value, pad=None, causal=None):
    """Call torch's module with batch-first tensors and True = may attend masks; return the
    batch-first output and the per-head weights (batch, heads, n_q, n_k)."""
    if not module.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    out, weights = module(
        query, key, value,
        key_padding_mask=None if pad is None else ~pad,
        attn_mask=None if causal is None else ~causal,
        need_weights=True, average_attn_weights=False,
    )
    if not module.batch_first:
        out = out.transpose(0, 1)
    return out, weights


def make_case(dtype: torch.dtype, cross: bool, masks: str, seed: int = 0):
    """Inputs and masks in both conventions: ((query, key, value), our mask, pad, causal).

    Padding removes keys at the end only and the causal mask keeps key 0, so no row is fully
    masked (torch.nn.MultiheadAttention would give NaN there)."""
    n_q, n_k = (4, 6) if cross else (5, 5)
    query = randn(BATCH, n_q, D_MODEL, dtype=dtype, seed=seed)
    if cross:
        key = randn(BATCH, n_k, D_MODEL, dtype=dtype, seed=seed + 1)
        value = randn(BATCH, n_k, D_MODEL, dtype=dtype, seed=seed + 2)
    else:
        key = value = query
    pad = causal = ours = None
    if masks in ("padding", "both"):
        pad = torch.arange(n_k) < torch.tensor([n_k, 3])[:, None]  # (batch, n_k)
    if masks in ("causal", "both"):
        causal = torch.ones(n_q, n_k, dtype=torch.bool).tril()  # (n_q, n_k)
    if masks == "padding":
        ours = pad[:, None, None, :]  # (batch, 1, 1, n_k)
    elif masks == "causal":
        ours = causal  # (n_q, n_k)
    elif masks == "both":
        ours = pad[:, None, :] & causal  # (batch, n_q, n_k): the same for every head
    return (query, key, value), ours, pad, causal


CASES = list(itertools.product(DTYPES, [True, False], [True, False], [False, True], MASKS))


def case_id(case) -> str:
    dtype, batch_first, bias, cross, masks = case
    return "-".join([str(dtype).removeprefix("torch."),
                     "batch_first" if batch_first else "seq_first",
                     "bias" if bias else "nobias", "cross" if cross else "self", masks])


def errors_against_torch(dtype, batch_first, bias, cross, masks, seed=0):
    """Our output and weights, torch's, and the max abs differences."""
    module = torch_mha(dtype, bias=bias, batch_first=batch_first, seed=seed)
    ours_module = MultiHeadAttention.from_torch(module)
    (query, key, value), ours_mask, pad, causal = make_case(dtype, cross, masks, seed=seed)
    with torch.no_grad():
        out, weights = ours_module(query, key, value, ours_mask)
        ref_out, ref_weights = call_torch(module, query, key, value, pad, causal)
    return out, weights, ref_out, ref_weights


# ==================================================================== from_torch vs PyTorch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_from_torch_matches_torch_multihead_attention(case):
    dtype, batch_first, bias, cross, masks = case
    out, weights, ref_out, ref_weights = errors_against_torch(*case)
    n_q, n_k = (4, 6) if cross else (5, 5)
    assert out.shape == ref_out.shape == (BATCH, n_q, D_MODEL)
    assert weights.shape == ref_weights.shape == (BATCH, NUM_HEADS, n_q, n_k)
    assert out.dtype == weights.dtype == dtype
    assert not torch.isnan(ref_out).any()  # the case has no fully masked row
    torch.testing.assert_close(weights, ref_weights, **tol(dtype))
    torch.testing.assert_close(out, ref_out, **tol(dtype))


def test_max_abs_error_against_torch_is_below_tolerance():
    """The issue's acceptance number: max |ours − torch| over every case, per dtype."""
    worst = {dtype: 0.0 for dtype in DTYPES}
    for case in CASES:
        out, weights, ref_out, ref_weights = errors_against_torch(*case)
        err = max((out - ref_out).abs().max().item(), (weights - ref_weights).abs().max().item())
        worst[case[0]] = max(worst[case[0]], err)
    report = ", ".join(f"{dtype}: {err:.3e}" for dtype, err in worst.items())
    print(f"max abs error against torch.nn.MultiheadAttention over {len(CASES)} cases: {report}")
    for dtype, err in worst.items():
        assert err < MAX_ABS_ERROR[dtype], (
            f"max abs error {err:.3e} for {dtype} exceeds {MAX_ABS_ERROR[dtype]:g} ({report})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_copies_parameters(dtype, bias):
    module = torch_mha(dtype, bias=bias, seed=3)
    copy = MultiHeadAttention.from_torch(module)
    d = D_MODEL
    assert (copy.d_model, copy.num_heads, copy.head_size) == (d, NUM_HEADS, d // NUM_HEADS)
    assert all(p.dtype == dtype for p in copy.parameters())
    for i, linear in enumerate((copy.w_query, copy.w_key, copy.w_value)):
        assert torch.equal(linear.weight, module.in_proj_weight[i * d:(i + 1) * d])
        if bias:
            assert torch.equal(linear.bias, module.in_proj_bias[i * d:(i + 1) * d])
        else:
            assert linear.bias is None
    assert torch.equal(copy.w_out.weight, module.out_proj.weight)
    assert (copy.w_out.bias is None) == (not bias)
    if bias:
        assert torch.equal(copy.w_out.bias, module.out_proj.bias)
    # A copy, not a view: changing it leaves torch's module alone.
    before = module.in_proj_weight.detach().clone()
    with torch.no_grad():
        copy.w_query.weight.add_(1.0)
    assert torch.equal(module.in_proj_weight, before)


# ============================================================ from scratch, copied into torch
def into_torch(ours: MultiHeadAttention, batch_first: bool) -> nn.MultiheadAttention:
    """torch's module with our weights: in_proj = [W^Q; W^K; W^V] stacked by rows."""
    bias = ours.w_query.bias is not None
    dtype = ours.w_query.weight.dtype
    module = nn.MultiheadAttention(ours.d_model, ours.num_heads, bias=bias,
                                   batch_first=batch_first).to(dtype).eval()
    linears = (ours.w_query, ours.w_key, ours.w_value)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([lin.weight for lin in linears]))
        module.out_proj.weight.copy_(ours.w_out.weight)
        if bias:
            module.in_proj_bias.copy_(torch.cat([lin.bias for lin in linears]))
            module.out_proj.bias.copy_(ours.w_out.bias)
    return module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "both"])
def test_scratch_module_copied_into_torch_agrees(dtype, bias, batch_first, masks):
    torch.manual_seed(11)
    ours = MultiHeadAttention(12, 3, bias=bias).to(dtype)
    if bias:  # nn.Linear's biases are random already; make sure none is zero by accident
        assert all(lin.bias.abs().min() > 0 for lin in (ours.w_query, ours.w_key, ours.w_value))
    module = into_torch(ours, batch_first)
    query = randn(2, 4, 12, dtype=dtype, seed=12)
    key = randn(2, 6, 12, dtype=dtype, seed=13)
    value = randn(2, 6, 12, dtype=dtype, seed=14)
    pad = causal = mask = None
    if masks == "both":
        pad = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
        causal = torch.ones(4, 6, dtype=torch.bool).tril()
        mask = pad[:, None, None, :] & causal
    with torch.no_grad():
        out, weights = ours(query, key, value, mask)
        ref_out, ref_weights = call_torch(module, query, key, value, pad, causal)
    assert weights.shape == ref_weights.shape == (2, 3, 4, 6)
    torch.testing.assert_close(weights, ref_weights, **tol(dtype))
    torch.testing.assert_close(out, ref_out, **tol(dtype))
    # And back again: from_torch of that module reproduces our parameters exactly.
    back = MultiHeadAttention.from_torch(module)
    for (name, p), (name_back, p_back) in zip(ours.named_parameters(), back.named_parameters(),
                                              strict=True):
        assert name == name_back and torch.equal(p, p_back), name


def test_gradients_match_torch():
    """The same loss through both modules gives the same gradients for every projection."""
    dtype = torch.float64
    module = torch_mha(dtype, seed=21)
    ours = MultiHeadAttention.from_torch(module)
    (query, key, value), mask, pad, causal = make_case(dtype, cross=True, masks="both", seed=22)
    upstream = randn(BATCH, 4, D_MODEL, dtype=dtype, seed=23)
    (ours(query, key, value, mask)[0] * upstream).sum().backward()
    (call_torch(module, query, key, value, pad, causal)[0] * upstream).sum().backward()
    d = D_MODEL
    for i, linear in enumerate((ours.w_query, ours.w_key, ours.w_value)):
        rows = slice(i * d, (i + 1) * d)
        torch.testing.assert_close(linear.weight.grad, module.in_proj_weight.grad[rows],
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(linear.bias.grad, module.in_proj_bias.grad[rows],
                                   rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.w_out.weight.grad, module.out_proj.weight.grad,
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.w_out.bias.grad, module.out_proj.bias.grad,
                               rtol=1e-10, atol=1e-12)


# ====================================================================== shapes, weights, masks
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d_model", "num_heads", "n_q", "n_k"),
                         [(8, 1, 3, 3), (8, 2, 4, 6), (12, 4, 1, 5), (6, 6, 5, 2)], ids=str)
def test_shapes_and_rows_sum_to_one(dtype, d_model, num_heads, n_q, n_k):
    torch.manual_seed(30)
    module = MultiHeadAttention(d_model, num_heads).to(dtype)
    query = randn(3, n_q, d_model, dtype=dtype, seed=31)
    key = randn(3, n_k, d_model, dtype=dtype, seed=32)
    value = randn(3, n_k, d_model, dtype=dtype, seed=33)
    out, weights = module(query, key, value)
    assert out.shape == (3, n_q, d_model) and out.dtype == dtype
    assert weights.shape == (3, num_heads, n_q, n_k) and weights.dtype == dtype
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, num_heads, n_q, dtype=dtype),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_entries_are_zero_and_fully_masked_rows_are_zeros(dtype):
    torch.manual_seed(40)
    module = MultiHeadAttention(8, 4).to(dtype)
    x = randn(2, 5, 8, dtype=dtype, seed=41)
    mask = torch.rand(2, 5, 5, generator=gen(42)) < 0.6
    mask[0, 2] = False  # query 2 of sequence 0 may attend to nothing
    mask[1, 3] = torch.tensor([False, False, True, False, False])  # a single key
    mask[:, [0, 1, 4], 0] = True  # the other rows keep something
    out, weights = module(x, x, x, mask)
    assert not torch.isnan(out).any() and not torch.isnan(weights).any()
    full = mask[:, None].expand(2, 4, 5, 5)
    assert torch.all(weights[~full] == 0)
    assert torch.equal(weights[0, :, 2], torch.zeros(4, 5, dtype=dtype))
    assert torch.equal(weights[1, :, 3], torch.tensor([0.0, 0, 1, 0, 0], dtype=dtype).expand(4, 5))
    sums = weights.sum(-1)
    has_any = full.any(-1)
    torch.testing.assert_close(sums[has_any], torch.ones_like(sums[has_any]), **tol(dtype))
    # Every head of the fully masked row contributes zeros, so only W^O's bias is left.
    torch.testing.assert_close(out[0, 2], module.w_out.bias.detach(), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_dimensional_mask_applies_to_every_head(dtype):
    torch.manual_seed(50)
    module = MultiHeadAttention(12, 3).to(dtype)
    query = randn(2, 4, 12, dtype=dtype, seed=51)
    key = value = randn(2, 5, 12, dtype=dtype, seed=52)
    mask = torch.rand(2, 4, 5, generator=gen(53)) < 0.5
    mask[..., 1] = True
    out, weights = module(query, key, value, mask)
    for head in range(3):
        assert torch.all(weights[:, head][~mask] == 0), head
        assert torch.all(weights[:, head][mask] > 0), head
    explicit = mask[:, None].expand(2, 3, 4, 5)  # written out per head
    out_explicit, weights_explicit = module(query, key, value, explicit)
    torch.testing.assert_close(out, out_explicit, rtol=0, atol=0)
    torch.testing.assert_close(weights, weights_explicit, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_padding_mask_broadcasts_and_hides_padded_values(dtype):
    torch.manual_seed(60)
    module = MultiHeadAttention(8, 2).to(dtype)
    query = randn(2, 3, 8, dtype=dtype, seed=61)
    key = randn(2, 6, 8, dtype=dtype, seed=62)
    value = randn(2, 6, 8, dtype=dtype, seed=63)
    pad = torch.arange(6) < torch.tensor([6, 2])[:, None]  # lengths 6 and 2
    out, weights = module(query, key, value, pad[:, None, None, :])  # (batch, 1, 1, n_k)
    assert weights.shape == (2, 2, 3, 6)
    assert torch.all(weights[1, :, :, 2:] == 0) and torch.all(weights[1, :, :, :2] > 0)
    assert torch.all(weights[0] > 0)
    out_full, _ = module(query, key, value, pad[:, None, None, :].expand(2, 2, 3, 6))
    torch.testing.assert_close(out, out_full, rtol=0, atol=0)
    # Sequence 1 is its two real keys: padding them with anything changes nothing.
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[1, 2:] = 100.0
    changed_value[1, 2:] = -50.0
    out_changed, _ = module(query, changed_key, changed_value, pad[:, None, None, :])
    torch.testing.assert_close(out_changed[1], out[1], **tol(dtype))
    alone, _ = module(query[1:], key[1:, :2], value[1:, :2])
    torch.testing.assert_close(out[1:], alone, **tol(dtype))


# ========================================================== each head uses its own column block
def by_hand(module: MultiHeadAttention, query, key, value):
    """MultiHead(Q, K, V) head by head, in plain torch: head i uses rows i·d_h … of each
    projection's weight (columns of W_i^Q in the notes' x·W convention)."""
    h, d_h = module.num_heads, module.head_size
    heads, weights = [], []
    for i in range(h):
        rows = slice(i * d_h, (i + 1) * d_h)
        q, k, v = (x @ lin.weight[rows].T + lin.bias[rows]
                   for x, lin in ((query, module.w_query), (key, module.w_key),
                                  (value, module.w_value)))
        alpha = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_h), dim=-1)
        heads.append(alpha @ v)
        weights.append(alpha)
    concat = torch.cat(heads, dim=-1)
    return concat @ module.w_out.weight.T + module.w_out.bias, torch.stack(weights, dim=1), concat


def capture_merged(module: MultiHeadAttention, *args):
    """The input of W^O, i.e. merge_heads(heads) = Concat(head₁, …, head_h)."""
    seen = []
    handle = module.w_out.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        out, weights = module(*args)
    finally:
        handle.remove()
    assert len(seen) == 1
    return out, weights, seen[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d_model", "num_heads"), [(8, 2), (12, 3), (12, 4)], ids=str)
def test_each_head_is_single_head_attention_on_its_column_block(dtype, d_model, num_heads):
    torch.manual_seed(70)
    module = MultiHeadAttention(d_model, num_heads).to(dtype)
    query = randn(2, 3, d_model, dtype=dtype, seed=71)
    key = randn(2, 5, d_model, dtype=dtype, seed=72)
    value = randn(2, 5, d_model, dtype=dtype, seed=73)
    with torch.no_grad():
        out, weights, merged = capture_merged(module, query, key, value)
        ref_out, ref_weights, ref_merged = by_hand(module, query, key, value)
    torch.testing.assert_close(weights, ref_weights, **tol(dtype))
    torch.testing.assert_close(merged, ref_merged, **tol(dtype))
    torch.testing.assert_close(out, ref_out, **tol(dtype))


def test_changing_one_heads_projection_leaves_the_other_heads_alone():
    dtype = torch.float64
    torch.manual_seed(80)
    module = MultiHeadAttention(12, 3).to(dtype)
    d_h = module.head_size
    x = randn(2, 4, 12, dtype=dtype, seed=81)
    y = randn(2, 5, 12, dtype=dtype, seed=82)
    with torch.no_grad():
        _, weights, merged = capture_merged(module, x, y, y)
        # Head 1's rows of W^V: only head 1's block of Concat(...) moves; no weight moves.
        module.w_value.weight[d_h:2 * d_h] += randn(d_h, 12, dtype=dtype, seed=83)
        _, weights_v, merged_v = capture_merged(module, x, y, y)
        # Head 1's rows of W^Q: only head 1's weights (and block) move.
        module.w_query.weight[d_h:2 * d_h] += randn(d_h, 12, dtype=dtype, seed=84)
        _, weights_q, merged_q = capture_merged(module, x, y, y)
    blocks = [slice(i * d_h, (i + 1) * d_h) for i in range(3)]
    assert torch.equal(weights_v, weights)
    for before, after in ((merged, merged_v), (merged_v, merged_q)):
        assert torch.equal(after[..., blocks[0]], before[..., blocks[0]])
        assert torch.equal(after[..., blocks[2]], before[..., blocks[2]])
        assert (after[..., blocks[1]] - before[..., blocks[1]]).abs().max() > 1e-3
    assert torch.equal(weights_q[:, [0, 2]], weights[:, [0, 2]])
    assert (weights_q[:, 1] - weights[:, 1]).abs().max() > 1e-3


# ================================================================= split_heads / merge_heads
@pytest.mark.parametrize(("d_model", "num_heads"), [(6, 1), (6, 2), (6, 3), (6, 6), (12, 4)],
                         ids=str)
def test_split_and_merge_heads_round_trip(d_model, num_heads):
    x = randn(2, 5, d_model, dtype=torch.float64, seed=90)
    heads = split_heads(x, num_heads)
    assert heads.shape == (2, num_heads, 5, d_model // num_heads)
    assert torch.equal(merge_heads(heads), x)
    y = randn(3, num_heads, 4, 2, dtype=torch.float32, seed=91)
    merged = merge_heads(y)
    assert merged.shape == (3, 4, num_heads * 2)
    assert torch.equal(split_heads(merged, num_heads), y)


def test_split_heads_column_block_layout():
    x = torch.arange(2 * 3 * 12).reshape(2, 3, 12).float()
    heads = split_heads(x, 4)  # d_h = 3
    for b, i, n in itertools.product(range(2), range(4), range(3)):
        assert torch.equal(heads[b, i, n], x[b, n, 3 * i:3 * i + 3])
    assert heads[0, 1, 0].tolist() == [3.0, 4.0, 5.0]
    # merge_heads concatenates the heads along the last axis: Concat(head₁, …, head_h).
    y = torch.arange(2 * 4 * 3 * 3).reshape(2, 4, 3, 3).float()
    assert torch.equal(merge_heads(y), torch.cat(list(y.unbind(1)), dim=-1))


# ======================================================================== parameter count
@pytest.mark.parametrize("d_model", [8, 12])
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count_is_the_same_for_every_number_of_heads(d_model, bias):
    divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
    expected = 4 * d_model**2 + (4 * d_model if bias else 0)
    for h in divisors:
        module = MultiHeadAttention(d_model, h, bias=bias)
        assert sum(p.numel() for p in module.parameters()) == expected, h
        reference = nn.MultiheadAttention(d_model, h, bias=bias)
        assert sum(p.numel() for p in reference.parameters()) == expected, h
    names = {n for n, _ in MultiHeadAttention(d_model, 2, bias=bias).named_parameters()}
    weights = {f"{lin}.weight" for lin in ("w_query", "w_key", "w_value", "w_out")}
    assert names == weights | ({w.replace("weight", "bias") for w in weights} if bias else set())


# ============================================================================= bad input
@pytest.mark.parametrize(("d_model", "num_heads"), [(10, 3), (12, 5), (6, 4), (7, 2)], ids=str)
def test_rejects_d_model_not_divisible_by_num_heads(d_model, num_heads):
    with pytest.raises(ValueError) as info:
        MultiHeadAttention(d_model, num_heads)
    message = str(info.value)
    assert re.search(rf"\b{d_model}\b", message) and re.search(rf"\b{num_heads}\b", message)
    assert "divisible" in message


@pytest.mark.parametrize("bad", [0, -4, True, False, 8.0, "8", None], ids=repr)
@pytest.mark.parametrize("which", ["d_model", "num_heads"])
def test_rejects_non_positive_or_non_int_sizes(bad, which):
    sizes = {"d_model": 8, "num_heads": 2, which: bad}
    with pytest.raises(ValueError, match=f"{which} must be a positive int"):
        MultiHeadAttention(**sizes)


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        (((2, 3, 6), (2, 4, 8), (2, 4, 8)),
         r"query must have shape \(batch, n_q, 8\); got \(2, 3, 6\)"),
        (((2, 3, 8), (2, 4, 5), (2, 4, 8)),
         r"key must have shape \(batch, n_k, 8\); got \(2, 4, 5\)"),
        (((2, 3, 8), (2, 4, 8), (2, 4, 9)),
         r"value must have shape \(batch, n_k, 8\); got \(2, 4, 9\)"),
        (((2, 1, 3, 8), (2, 4, 8), (2, 4, 8)), r"query must have shape .*\(2, 1, 3, 8\)"),
        (((3, 8), (2, 4, 8), (2, 4, 8)), r"query must have at least 3 dimensions.*\(3, 8\)"),
        (((2, 3, 8), (2, 4, 8), (2, 5, 8)), r"same length n_k; got \(2, 4, 8\) and \(2, 5, 8\)"),
        (((2, 3, 8), (1, 4, 8), (1, 4, 8)), r"same batch size; got \(2, 3, 8\), \(1, 4, 8\)"),
        (((2, 3, 8), (2, 4, 8), (3, 4, 8)), r"same batch size; .*\(3, 4, 8\)"),
    ],
    ids=["query-d", "key-d", "value-d", "query-4d", "query-2d", "n_k", "batch-q", "batch-v"],
)
def test_rejects_bad_shapes(shapes, expected):
    module = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=expected):
        module(*(torch.randn(shape) for shape in shapes))


def test_rejects_dtype_mismatch():
    module = MultiHeadAttention(8, 2)  # float32
    x32, x64 = torch.randn(1, 3, 8), torch.randn(1, 3, 8, dtype=torch.float64)
    with pytest.raises(TypeError, match="query is torch.float64"):
        module(x64, x64, x64)
    with pytest.raises(TypeError, match="value is torch.float64"):
        module(x32, x32, x64)
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.int64"):
        module(x32, torch.ones(1, 3, 8, dtype=torch.int64), x32)
    with pytest.raises(TypeError, match="key must be a torch.Tensor"):
        module(x32, [[[0.0] * 8]], x32)
    module.double()
    assert module(x64, x64, x64)[0].dtype == torch.float64
    with pytest.raises(TypeError, match="query is torch.float32"):
        module(x32, x64, x64)


def test_rejects_bad_masks():
    module = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    with pytest.raises(TypeError, match="boolean"):
        module(x, x, x, torch.ones(2, 3, 3))
    # (The message shows the mask after the per-head axis is inserted: (2, 1, 3, 4).)
    with pytest.raises(ValueError, match=r"mask of shape .*\(2, 2, 3, 3\)"):
        module(x, x, x, torch.ones(2, 3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 1, 1, 5\).*\(2, 2, 3, 3\)"):
        module(x, x, x, torch.ones(2, 1, 1, 5, dtype=torch.bool))


@pytest.mark.parametrize("bad", [nn.Linear(8, 8), AdditiveAttention(8, 8, 8), "mha", None],
                         ids=["Linear", "AdditiveAttention", "str", "None"])
def test_from_torch_rejects_other_modules(bad):
    with pytest.raises(TypeError, match="torch.nn.MultiheadAttention"):
        MultiHeadAttention.from_torch(bad)


@pytest.mark.parametrize("kwargs", [{"kdim": 4}, {"vdim": 6}, {"kdim": 4, "vdim": 4},
                                    {"add_bias_kv": True}, {"add_zero_attn": True}], ids=str)
def test_from_torch_rejects_other_layouts(kwargs):
    with pytest.raises(ValueError, match="plain layout"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, **kwargs))


# ============================================================================== gradients
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_flow_to_all_four_projections(bias):
    torch.manual_seed(100)
    module = MultiHeadAttention(8, 2, bias=bias)
    query = torch.randn(2, 3, 8, requires_grad=True)
    key = torch.randn(2, 4, 8, requires_grad=True)
    value = torch.randn(2, 4, 8, requires_grad=True)
    out, _ = module(query, key, value)
    (out * torch.randn(2, 3, 8)).sum().backward()
    grads = dict(module.named_parameters())
    assert len(grads) == (8 if bias else 4)
    for name, p in grads.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for name, x in (("query", query), ("key", key), ("value", value)):
        assert x.grad is not None and x.grad.abs().sum() > 0, name


def test_gradcheck():
    torch.manual_seed(110)
    module = MultiHeadAttention(4, 2).double()
    q, k, v = (randn(1, n, 4, dtype=torch.float64, seed=s).requires_grad_(True)
               for n, s in ((2, 111), (3, 112), (3, 113)))
    mask = torch.tensor([[[True, True, False], [False, False, False]]])  # one empty row
    assert torch.autograd.gradcheck(lambda a, b, c: module(a, b, c, mask)[0], (q, k, v))
