"""course_utils.attention against PyTorch references, in float32 and float64."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from numerics import gen, randn, tol
from torch import nn

from course_utils.attention import (
    AdditiveAttention,
    context_vector,
    dot_product_scores,
    hard_attention_weights,
    masked_softmax,
    scaled_dot_product_attention,
)

DTYPES = [torch.float32, torch.float64]
# A few seeded random shapes stand in for property-based testing: (leading dims, n_q, n_k, d).
SHAPES = [((), 1, 1, 1), ((), 3, 5, 4), ((2,), 4, 3, 8), ((2, 3), 5, 7, 6), ((1, 2), 2, 9, 3)]


def random_mask(*shape: int, seed: int = 0, p: float = 0.6) -> torch.Tensor:
    return torch.rand(*shape, generator=gen(seed)) < p


# =============================================================================== masked_softmax
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 6), (2, 2, 3, 7)])
def test_masked_softmax_without_mask_is_softmax(dtype, shape):
    scores = randn(*shape, dtype=dtype, seed=sum(shape)) * 3
    out = masked_softmax(scores)
    assert out.dtype == dtype and out.shape == scores.shape
    torch.testing.assert_close(out, torch.softmax(scores, dim=-1), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_softmax_other_dim(dtype):
    scores = randn(3, 4, dtype=dtype)
    torch.testing.assert_close(masked_softmax(scores, dim=0), torch.softmax(scores, dim=0),
                               **tol(dtype))


def _reference_masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the allowed entries only, written row by row."""
    mask = mask.expand_as(scores)
    flat_s, flat_m = scores.reshape(-1, scores.shape[-1]), mask.reshape(-1, scores.shape[-1])
    out = torch.zeros_like(flat_s)
    for r in range(flat_s.shape[0]):
        allowed = flat_m[r]
        if allowed.any():
            out[r, allowed] = torch.softmax(flat_s[r, allowed], dim=0)
    return out.reshape(scores.shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
def test_masked_softmax_is_softmax_over_allowed_entries(dtype, seed):
    scores = randn(2, 4, 6, dtype=dtype, seed=seed) * 2
    mask = random_mask(2, 4, 6, seed=seed + 100)
    mask[0, 0] = False  # one fully masked row
    mask[1, 1] = torch.tensor([True, False, False, False, False, False])  # single allowed key
    out = masked_softmax(scores, mask)
    assert out.dtype == dtype
    torch.testing.assert_close(out, _reference_masked_softmax(scores, mask), **tol(dtype))
    assert torch.all(out[~mask] == 0)
    assert out[1, 1, 0].item() == 1.0
    row_sums = out.sum(-1)
    has_any = mask.any(-1)
    torch.testing.assert_close(row_sums[has_any], torch.ones_like(row_sums[has_any]),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "mask_shape", [(6,), (4, 1), (2, 1, 6), (1, 4, 6), (1, 1, 1)], ids=str
)
def test_masked_softmax_broadcastable_masks(dtype, mask_shape):
    scores = randn(2, 4, 6, dtype=dtype, seed=3)
    mask = random_mask(*mask_shape, seed=len(mask_shape), p=0.7)
    out = masked_softmax(scores, mask)
    assert out.shape == scores.shape
    torch.testing.assert_close(out, _reference_masked_softmax(scores, mask), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_softmax_key_mask_matches_minus_inf(dtype):
    scores = randn(3, 5, dtype=dtype, seed=9)
    mask = torch.tensor([True, False, True, True, False])
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(masked_softmax(scores, mask), expected, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_rows_are_exact_zeros_with_finite_gradients(dtype):
    scores = randn(2, 3, 4, dtype=dtype, seed=5).requires_grad_(True)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[0, 1] = False
    mask[1, :, 2] = False
    out = masked_softmax(scores, mask)
    assert not torch.isnan(out).any()
    assert torch.equal(out[0, 1], torch.zeros(4, dtype=dtype))
    loss = (out * randn(2, 3, 4, dtype=dtype, seed=6)).sum()
    loss.backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[0, 1], torch.zeros(4, dtype=dtype))  # nothing flows there
    assert torch.equal(scores.grad[1, :, 2], torch.zeros(3, dtype=dtype))  # nor to masked keys
    assert scores.grad[0, 0].abs().sum() > 0  # but it does elsewhere


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_masked_gives_zeros_everywhere(dtype):
    scores = randn(3, 4, dtype=dtype)
    out = masked_softmax(scores, torch.zeros(3, 4, dtype=torch.bool))
    assert torch.equal(out, torch.zeros(3, 4, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_key_gets_weight_one(dtype):
    scores = randn(2, 5, 1, dtype=dtype) * 100
    out = masked_softmax(scores)
    assert torch.equal(out, torch.ones(2, 5, 1, dtype=dtype))
    out = masked_softmax(scores, torch.ones(1, dtype=torch.bool))
    assert torch.equal(out, torch.ones(2, 5, 1, dtype=dtype))


def test_masked_softmax_large_scores_are_stable():
    scores = torch.tensor([[1000.0, 1000.0, -1000.0]])
    out = masked_softmax(scores, torch.tensor([True, True, True]))
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5, 0.0]]))


@pytest.mark.parametrize("bad_mask", [torch.ones(3, 4), torch.ones(3, 4, dtype=torch.int64),
                                      [[True] * 4] * 3], ids=["float", "int", "list"])
def test_masked_softmax_rejects_non_bool_masks(bad_mask):
    with pytest.raises(TypeError, match="mask must be a boolean tensor"):
        masked_softmax(torch.randn(3, 4), bad_mask)


@pytest.mark.parametrize("mask_shape", [(5,), (2, 4), (3, 3, 4), (2, 1, 3, 4)], ids=str)
def test_masked_softmax_rejects_non_broadcastable_mask(mask_shape):
    scores = torch.randn(3, 4)
    with pytest.raises(ValueError) as info:
        masked_softmax(scores, torch.ones(mask_shape, dtype=torch.bool))
    message = str(info.value)
    assert str(tuple(mask_shape)) in message
    assert "(3, 4)" in message


def test_masked_softmax_rejects_integer_scores():
    with pytest.raises(TypeError, match="scores must be a floating-point tensor"):
        masked_softmax(torch.ones(2, 3, dtype=torch.int64))


# =========================================================================== dot_product_scores
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("scaled", [True, False])
def test_dot_product_scores_matches_matmul(dtype, shape, scaled):
    lead, n_q, n_k, d = shape
    q = randn(*lead, n_q, d, dtype=dtype, seed=1)
    k = randn(*lead, n_k, d, dtype=dtype, seed=2)
    out = dot_product_scores(q, k, scaled=scaled)
    expected = q @ k.transpose(-2, -1)
    if scaled:
        expected = expected / math.sqrt(d)
    assert out.shape == (*lead, n_q, n_k) and out.dtype == dtype
    torch.testing.assert_close(out, expected, **tol(dtype))


def test_dot_product_scores_scales_by_sqrt_d():
    q = torch.ones(1, 4, dtype=torch.float64)
    k = torch.ones(2, 4, dtype=torch.float64)
    assert dot_product_scores(q, k).tolist() == [[2.0, 2.0]]  # 4 / sqrt(4)
    assert dot_product_scores(q, k, scaled=False).tolist() == [[4.0, 4.0]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_product_scores_batched_heads(dtype):
    q = randn(2, 3, 5, 4, dtype=dtype, seed=1)
    k = randn(2, 3, 6, 4, dtype=dtype, seed=2)
    out = dot_product_scores(q, k)
    assert out.shape == (2, 3, 5, 6)
    for b in range(2):
        for h in range(3):
            torch.testing.assert_close(out[b, h], q[b, h] @ k[b, h].T / 2.0, **tol(dtype))


def test_dot_product_scores_rejects_mismatched_d():
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError) as info:
        dot_product_scores(q, k)
    message = str(info.value)
    assert "(2, 3, 4)" in message and "(2, 5, 6)" in message
    assert "last dimension" in message


@pytest.mark.parametrize(("q_shape", "k_shape"), [((2, 3, 4), (3, 5, 4)),
                                                  ((2, 3, 5, 4), (2, 1, 6, 4)),
                                                  ((3, 4), (2, 5, 4))], ids=str)
def test_dot_product_scores_rejects_mismatched_leading_dims(q_shape, k_shape):
    with pytest.raises(ValueError) as info:
        dot_product_scores(torch.randn(q_shape), torch.randn(k_shape))
    message = str(info.value)
    assert str(q_shape) in message and str(k_shape) in message


def test_dot_product_scores_rejects_bad_types():
    with pytest.raises(TypeError, match="query must be a torch.Tensor"):
        dot_product_scores([[1.0, 2.0]], torch.randn(3, 2))
    with pytest.raises(TypeError, match="floating-point"):
        dot_product_scores(torch.ones(2, 3, dtype=torch.int32), torch.randn(3, 3))
    with pytest.raises(TypeError, match="dtype"):
        dot_product_scores(torch.randn(2, 3), torch.randn(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        dot_product_scores(torch.randn(3), torch.randn(4, 3))


# ================================================================ scaled_dot_product_attention
def _qkv(lead, n_q, n_k, d, d_v, dtype, seed=0):
    return (randn(*lead, n_q, d, dtype=dtype, seed=seed),
            randn(*lead, n_k, d, dtype=dtype, seed=seed + 1),
            randn(*lead, n_k, d_v, dtype=dtype, seed=seed + 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sdpa_matches_torch_without_mask(dtype, shape):
    lead, n_q, n_k, d = shape
    q, k, v = _qkv(lead, n_q, n_k, d, d + 1, dtype)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (*lead, n_q, d + 1) and weights.shape == (*lead, n_q, n_k)
    assert out.dtype == dtype and weights.dtype == dtype
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **tol(dtype))
    torch.testing.assert_close(weights, torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), -1),
                               **tol(dtype))
    torch.testing.assert_close(weights.sum(-1), torch.ones(*lead, n_q, dtype=dtype),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", [(2, 3, 5, 7), (5, 7), (7,), (2, 1, 1, 7), (3, 5, 1)],
                         ids=str)
def test_sdpa_matches_torch_with_mask(dtype, mask_shape):
    q, k, v = _qkv((2, 3), 5, 7, 4, 6, dtype, seed=10)
    mask = random_mask(*mask_shape, seed=len(mask_shape), p=0.6)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    full = mask.expand(2, 3, 5, 7)  # torch's function wants a mask of at least 2 dimensions
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=full)
    has_any = full.any(-1)
    assert has_any.any()
    torch.testing.assert_close(out[has_any], expected[has_any], **tol(dtype))
    assert torch.all(weights[~full] == 0)
    assert torch.all(out[~has_any] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_causal_mask(dtype):
    q, k, v = _qkv((2,), 6, 6, 4, 3, dtype, seed=20)
    causal = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    out, weights = scaled_dot_product_attention(q, k, v, causal)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=causal),
                               **tol(dtype))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               **tol(dtype))
    assert torch.all(weights.triu(diagonal=1) == 0)
    assert torch.all(weights[:, 0, 0] == 1)  # the first query sees only itself
    torch.testing.assert_close(out[:, 0], v[:, 0], **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_fully_masked_row_gives_zeros(dtype):
    q, k, v = _qkv((1,), 3, 4, 2, 5, dtype, seed=30)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert not torch.isnan(out).any() and not torch.isnan(weights).any()
    assert torch.equal(out[0, 1], torch.zeros(5, dtype=dtype))
    assert torch.equal(weights[0, 1], torch.zeros(4, dtype=dtype))
    # Rows with something to attend to still match PyTorch (which may give NaN on row 1).
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out[0, [0, 2]], expected[0, [0, 2]], **tol(dtype))


@pytest.mark.parametrize("use_mask", [False, True])
def test_sdpa_gradients_match_torch(use_mask):
    dtype = torch.float64
    q, k, v = (t.requires_grad_(True) for t in _qkv((2, 2), 4, 5, 3, 6, dtype, seed=40))
    mask = random_mask(2, 1, 4, 5, seed=41, p=0.7) if use_mask else None
    if mask is not None:
        mask[..., 0] = True  # every row has something to attend to
    upstream = randn(2, 2, 4, 6, dtype=dtype, seed=42)
    ours, _ = scaled_dot_product_attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    grads_ours = torch.autograd.grad((ours * upstream).sum(), (q, k, v))
    grads_theirs = torch.autograd.grad((theirs * upstream).sum(), (q, k, v))
    for mine, ref in zip(grads_ours, grads_theirs, strict=True):
        assert mine.dtype == dtype
        torch.testing.assert_close(mine, ref, rtol=1e-9, atol=1e-11)


def test_sdpa_gradcheck():
    q, k, v = (t.requires_grad_(True) for t in _qkv((), 3, 4, 2, 2, torch.float64, seed=50))
    mask = torch.tensor([[True, False, True, True]] * 2 + [[False] * 4])
    assert torch.autograd.gradcheck(
        lambda a, b, c: scaled_dot_product_attention(a, b, c, mask)[0], (q, k, v)
    )


def test_sdpa_rejects_key_value_length_mismatch():
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    v = torch.randn(2, 6, 7)
    with pytest.raises(ValueError) as info:
        scaled_dot_product_attention(q, k, v)
    message = str(info.value)
    assert "(2, 5, 4)" in message and "(2, 6, 7)" in message and "n_k" in message


@pytest.mark.parametrize(
    "args",
    [
        ([[1.0]], torch.randn(2, 2), torch.randn(2, 2)),
        (torch.randn(2, 2), None, torch.randn(2, 2)),
        (torch.randn(2, 2), torch.randn(2, 2), "values"),
    ],
    ids=["query-list", "key-none", "value-str"],
)
def test_sdpa_rejects_non_tensors(args):
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        scaled_dot_product_attention(*args)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_sdpa_rejects_integer_tensors(which):
    args = [torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)]
    args[which] = args[which].to(torch.int64)
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.int64"):
        scaled_dot_product_attention(*args)


def test_sdpa_rejects_bad_masks():
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, torch.ones(3, 5))
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 3, dtype=torch.bool))


# ======================================================== hard_attention_weights, context_vector
@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_attention_weights_are_one_hot_at_argmax(dtype):
    scores = randn(2, 4, 6, dtype=dtype, seed=60).requires_grad_(True)
    weights = hard_attention_weights(scores)
    assert weights.shape == scores.shape and weights.dtype == dtype
    assert weights.grad_fn is None and not weights.requires_grad
    assert torch.equal(weights.sum(-1), torch.ones(2, 4, dtype=dtype))
    assert torch.equal(weights.argmax(-1), scores.argmax(-1))
    assert set(weights.unique().tolist()) == {0.0, 1.0}


def test_hard_attention_weights_small_case():
    scores = torch.tensor([[0.1, 3.0, -1.0], [5.0, 0.0, 4.9]])
    assert hard_attention_weights(scores).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead", [(), (3,), (2, 2)], ids=str)
def test_context_vector_is_weights_times_values(dtype, lead):
    weights = torch.softmax(randn(*lead, 4, 5, dtype=dtype, seed=70), -1)
    values = randn(*lead, 5, 3, dtype=dtype, seed=71)
    out = context_vector(weights, values)
    assert out.shape == (*lead, 4, 3) and out.dtype == dtype
    torch.testing.assert_close(out, weights @ values, **tol(dtype))
    # c = sum_i alpha_i v_i, written out for one query
    manual = sum(weights[..., 0, i, None] * values[..., i, :] for i in range(5))
    torch.testing.assert_close(out[..., 0, :], manual, **tol(dtype))


def test_context_vector_rejects_mismatched_n_k():
    with pytest.raises(ValueError) as info:
        context_vector(torch.rand(2, 4, 5), torch.rand(2, 6, 3))
    message = str(info.value)
    assert "(2, 4, 5)" in message and "(2, 6, 3)" in message and "n_k" in message


def test_context_vector_rejects_mismatched_batch():
    with pytest.raises(ValueError, match=r"\(3, 4, 5\).*\(2, 5, 3\)"):
        context_vector(torch.rand(3, 4, 5), torch.rand(2, 5, 3))


# ============================================================================ AdditiveAttention
def test_additive_attention_submodules():
    module = AdditiveAttention(query_size=3, key_size=5, hidden_size=7)
    assert isinstance(module, nn.Module)
    children = dict(module.named_children())
    assert set(children) == {"w_query", "w_key", "v"}
    for name, (fan_in, fan_out) in {"w_query": (3, 7), "w_key": (5, 7), "v": (7, 1)}.items():
        layer = children[name]
        assert isinstance(layer, nn.Linear)
        assert (layer.in_features, layer.out_features) == (fan_in, fan_out)
        assert layer.bias is None
        assert layer.weight.shape == (fan_out, fan_in)
    assert sorted(n for n, _ in module.named_parameters()) == [
        "v.weight", "w_key.weight", "w_query.weight"]


def _additive_reference(module, query, keys, values, mask=None):
    """vᵀ tanh(W_q q + W_k k), softmax, weighted sum: one loop per batch, query and key."""
    wq, wk, v = module.w_query.weight, module.w_key.weight, module.v.weight[0]
    batch, n_q, n_k = query.shape[0], query.shape[1], keys.shape[1]
    scores = torch.empty(batch, n_q, n_k, dtype=query.dtype)
    for b in range(batch):
        for i in range(n_q):
            for j in range(n_k):
                scores[b, i, j] = torch.dot(v, torch.tanh(wq @ query[b, i] + wk @ keys[b, j]))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, -1)
    return weights @ values, weights


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_mask", [False, True])
def test_additive_attention_matches_reference(dtype, use_mask):
    torch.manual_seed(0)
    module = AdditiveAttention(3, 4, 5).to(dtype)
    query = randn(2, 3, 3, dtype=dtype, seed=80)
    keys = randn(2, 4, 4, dtype=dtype, seed=81)
    values = randn(2, 4, 2, dtype=dtype, seed=82)
    mask = torch.tensor([True, False, True, True]) if use_mask else None
    context, weights = module(query, keys, values, mask)
    assert context.shape == (2, 3, 2) and weights.shape == (2, 3, 4)
    assert context.dtype == dtype and weights.dtype == dtype
    with torch.no_grad():
        ref_context, ref_weights = _additive_reference(module, query, keys, values, mask)
    torch.testing.assert_close(weights, ref_weights, **tol(dtype))
    torch.testing.assert_close(context, ref_context, **tol(dtype))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, dtype=dtype), **tol(dtype))
    if use_mask:
        assert torch.all(weights[..., 1] == 0)


def test_additive_attention_hand_computed_case():
    module = AdditiveAttention(1, 1, 1)
    with torch.no_grad():
        module.w_query.weight.fill_(1.0)
        module.w_key.weight.fill_(2.0)
        module.v.weight.fill_(3.0)
    query = torch.tensor([[[0.5]]])
    keys = torch.tensor([[[0.0], [1.0]]])
    values = torch.tensor([[[10.0], [20.0]]])
    context, weights = module(query, keys, values)
    s = torch.tensor([3 * math.tanh(0.5), 3 * math.tanh(2.5)])
    expected = torch.softmax(s, 0)
    torch.testing.assert_close(weights[0, 0], expected)
    torch.testing.assert_close(context[0, 0, 0], 10 * expected[0] + 20 * expected[1])


def test_additive_attention_scores_shape():
    module = AdditiveAttention(3, 4, 5)
    assert module.scores(torch.randn(2, 6, 3), torch.randn(2, 7, 4)).shape == (2, 6, 7)


def test_additive_attention_double():
    torch.manual_seed(1)
    module = AdditiveAttention(3, 4, 5).double()
    assert all(p.dtype == torch.float64 for p in module.parameters())
    query = randn(1, 2, 3, dtype=torch.float64)
    keys = randn(1, 3, 4, dtype=torch.float64, seed=1)
    values = randn(1, 3, 6, dtype=torch.float64, seed=2)
    context, weights = module(query, keys, values)
    assert context.dtype == torch.float64 and weights.dtype == torch.float64
    with torch.no_grad():
        ref_context, _ = _additive_reference(module, query, keys, values)
    torch.testing.assert_close(context, ref_context, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_additive_attention_masks(dtype):
    module = AdditiveAttention(3, 4, 5).to(dtype)
    query = randn(2, 3, 3, dtype=dtype)
    keys = randn(2, 4, 4, dtype=dtype, seed=1)
    values = randn(2, 4, 2, dtype=dtype, seed=2)
    mask = torch.tensor([[True, True, False, False], [False, False, False, True]])[:, None, :]
    context, weights = module(query, keys, values, mask)
    assert torch.all(weights[0, :, 2:] == 0) and torch.all(weights[1, :, :3] == 0)
    torch.testing.assert_close(weights[1, :, 3], torch.ones(3, dtype=dtype))
    torch.testing.assert_close(context[1], values[1, 3].expand(3, 2), **tol(dtype))
    empty = torch.zeros(2, 3, 4, dtype=torch.bool)
    context, weights = module(query, keys, values, empty)
    assert torch.equal(context, torch.zeros(2, 3, 2, dtype=dtype))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        module(query, keys, values, torch.ones(3, 3, dtype=torch.bool))


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape", "expected"),
    [
        ((2, 3, 4), (2, 4, 4), (2, 4, 2), r"query must have shape \(batch, n_q, 3\); got \(2, 3,"),
        ((2, 3, 3), (2, 4, 5), (2, 4, 2), r"keys must have shape \(batch, n_k, 4\); got \(2, 4, 5"),
        ((2, 3, 3), (2, 4, 4), (2, 5, 2), r"values \(2, 5, 2\) and keys \(2, 4, 4\)"),
        ((2, 3, 3), (2, 4, 4), (1, 4, 2), r"values \(1, 4, 2\) and keys \(2, 4, 4\)"),
        ((1, 3, 3), (2, 4, 4), (2, 4, 2), r"batch size; got query \(1, 3, 3\) and keys"),
        ((3, 3), (2, 4, 4), (2, 4, 2), r"query must have at least 3 dimensions"),
    ],
    ids=["query-size", "key-size", "value-n_k", "value-batch", "batch", "query-2d"],
)
def test_additive_attention_shape_errors(q_shape, k_shape, v_shape, expected):
    module = AdditiveAttention(3, 4, 5)
    with pytest.raises(ValueError, match=expected):
        module(torch.randn(q_shape), torch.randn(k_shape), torch.randn(v_shape))


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_additive_attention_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        AdditiveAttention(3, 4, bad)


def test_additive_attention_rejects_non_tensor_keys():
    module = AdditiveAttention(3, 4, 5)
    with pytest.raises((TypeError, ValueError), match="keys"):
        module(torch.randn(1, 2, 3), [[[0.0] * 4]], torch.randn(1, 1, 2))


def test_additive_attention_gradients_flow_to_all_parameters():
    module = AdditiveAttention(3, 4, 5)
    context, _ = module(torch.randn(2, 3, 3), torch.randn(2, 4, 4), torch.randn(2, 4, 2))
    context.sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ================================================== AdditiveAttention: keys projected once
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_mask", [False, True])
def test_additive_attention_projected_keys_give_the_same_result(dtype, use_mask):
    """project_keys once, then scores/forward with projected_keys=: bit-identical to
    projecting inside every call (the same matrix product on the same tensors)."""
    torch.manual_seed(0)
    module = AdditiveAttention(3, 4, 5).to(dtype)
    keys = randn(2, 6, 4, dtype=dtype, seed=91)
    values = randn(2, 6, 2, dtype=dtype, seed=92)
    mask = torch.tensor([True, True, False, True, True, False]) if use_mask else None
    projected = module.project_keys(keys)
    assert projected.shape == (2, 6, 5) and projected.dtype == dtype
    assert torch.equal(projected, module.w_key(keys))
    for step in range(3):  # a new query at every step, the same keys
        query = randn(2, 1, 3, dtype=dtype, seed=100 + step)
        assert torch.equal(module.scores(query, keys, projected), module.scores(query, keys))
        context, weights = module(query, keys, values, mask, projected_keys=projected)
        ref_context, ref_weights = module(query, keys, values, mask)
        assert torch.equal(context, ref_context) and torch.equal(weights, ref_weights)


def test_additive_attention_projected_keys_skip_the_key_projection():
    module = AdditiveAttention(3, 4, 5)
    calls = []
    module.w_key.register_forward_hook(lambda *_: calls.append(1))
    keys = torch.randn(2, 6, 4)
    projected = module.project_keys(keys)
    for _ in range(4):
        module(torch.randn(2, 1, 3), keys, keys, projected_keys=projected)
    assert len(calls) == 1  # once in project_keys, never in the four calls
    module(torch.randn(2, 1, 3), keys, keys)
    assert len(calls) == 2  # without projected_keys, every call projects the keys


def test_additive_attention_projected_keys_gradients_match():
    torch.manual_seed(0)
    module = AdditiveAttention(3, 4, 5).double()
    keys = randn(2, 6, 4, dtype=torch.float64, seed=3)
    queries = [randn(2, 1, 3, dtype=torch.float64, seed=10 + t) for t in range(3)]
    grads = []
    for once in (True, False):
        module.zero_grad()
        projected = module.project_keys(keys) if once else None
        sum(module(q, keys, keys, projected_keys=projected)[0].sum() for q in queries).backward()
        grads.append({n: p.grad.clone() for n, p in module.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("projected", "error", "expected"),
    [
        (torch.randn(2, 6, 4), ValueError, r"projected_keys must have shape \(batch, n_k, 5\)"),
        (torch.randn(2, 5, 5), ValueError, r"= \(2, 6, 5\).*got \(2, 5, 5\)"),
        (torch.randn(1, 6, 5), ValueError, r"got \(1, 6, 5\) for keys \(2, 6, 4\)"),
        (torch.randn(2, 6, 5).double(), TypeError, "projected_keys are torch.float64"),
        (torch.zeros(2, 6, 5, dtype=torch.long), TypeError, "projected_keys must be a float"),
        ([[0.0] * 5], TypeError, "projected_keys must be a torch.Tensor"),
    ],
    ids=["hidden-size", "n_k", "batch", "dtype", "integer", "list"],
)
def test_additive_attention_rejects_bad_projected_keys(projected, error, expected):
    module = AdditiveAttention(3, 4, 5)
    keys = torch.randn(2, 6, 4)
    with pytest.raises(error, match=expected):
        module(torch.randn(2, 1, 3), keys, keys, projected_keys=projected)


def test_additive_attention_project_keys_checks_its_input():
    module = AdditiveAttention(3, 4, 5)
    with pytest.raises(ValueError,
                       match=r"keys must have shape \(batch, n_k, 4\); got \(2, 6, 3\)"):
        module.project_keys(torch.randn(2, 6, 3))
    with pytest.raises(ValueError, match="keys must have at least 3 dimensions"):
        module.project_keys(torch.randn(6, 4))
    with pytest.raises(TypeError, match="weights are torch.float32 but keys are torch.float64"):
        module.project_keys(torch.randn(2, 6, 4).double())
