"""chunked_attention (course_utils.efficient) equals exact attention, in every shape and mask."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import scaled_dot_product_attention as torch_sdpa

from course_utils.attention import scaled_dot_product_attention
from course_utils.efficient import OnlineSoftmax, chunked_attention
from tests.numerics import gen, randn, tol

DTYPES = [torch.float32, torch.float64]


def qkv(batch: tuple[int, ...], n_q: int, n_k: int, d: int, d_v: int, dtype: torch.dtype,
        seed: int = 0, scale: float = 1.0) -> tuple[torch.Tensor, ...]:
    return (randn(*batch, n_q, d, dtype=dtype, seed=seed) * scale,
            randn(*batch, n_k, d, dtype=dtype, seed=seed + 1) * scale,
            randn(*batch, n_k, d_v, dtype=dtype, seed=seed + 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch, n_q, n_k, d, d_v, chunk", [
    ((), 5, 7, 4, 3, 2),               # no batch, lengths not divisible by the chunk
    ((2,), 1, 1, 8, 8, 1),             # a single query and key
    ((2, 3), 37, 53, 8, 5, 16),        # batch × heads, odd lengths
    ((2, 3), 37, 53, 8, 5, 1024),      # one chunk holds everything
    ((1, 8), 130, 64, 16, 16, 64),     # more queries than keys
    ((3,), 9, 100, 2, 1, 7),
])
def test_equals_torch_scaled_dot_product_attention(dtype, batch, n_q, n_k, d, d_v, chunk):
    q, k, v = qkv(batch, n_q, n_k, d, d_v, dtype)
    out = chunked_attention(q, k, v, chunk_size=chunk)
    assert out.shape == (*batch, n_q, d_v) and out.dtype == dtype
    torch.testing.assert_close(out, torch_sdpa(q, k, v), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", [(37, 53), (2, 1, 37, 53), (2, 3, 37, 53), (1, 53),
                                        (53,), (37, 1), (2, 1, 1, 53)])
def test_masks_of_every_broadcastable_shape(dtype, mask_shape):
    q, k, v = qkv((2, 3), 37, 53, 8, 5, dtype, seed=3)
    mask = torch.rand(*mask_shape, generator=gen(4)) > 0.4
    mask.view(-1)[0] = True  # at least one allowed key somewhere
    expected, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(chunked_attention(q, k, v, mask, chunk_size=10), expected,
                               **tol(dtype))


def test_causal_mask_equals_torch_is_causal():
    q, k, v = qkv((2, 4), 50, 50, 16, 16, torch.float32, seed=5)
    causal = torch.ones(50, 50, dtype=torch.bool).tril()
    torch.testing.assert_close(chunked_attention(q, k, v, causal, chunk_size=8),
                               torch_sdpa(q, k, v, is_causal=True), **tol(torch.float32))


def test_a_fully_masked_query_gets_zeros_and_the_others_are_unaffected():
    q, k, v = qkv((2,), 6, 9, 4, 3, torch.float64, seed=6)
    mask = torch.ones(2, 6, 9, dtype=torch.bool)
    mask[0, 2] = False                # query 2 of the first sequence may attend to nothing
    mask[1, :, 4:] = False            # the second sequence: only keys 0–3
    out = chunked_attention(q, k, v, mask, chunk_size=4)
    assert torch.equal(out[0, 2], torch.zeros(3, dtype=torch.float64))
    assert torch.isfinite(out).all()
    expected, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, expected, **tol(torch.float64))


def test_a_query_masked_out_of_whole_chunks_is_exact():
    # the allowed keys all lie in the last chunk: the first chunks see only −inf
    q, k, v = qkv((), 3, 20, 4, 2, torch.float64, seed=7)
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[:, 18:] = True
    expected, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(chunked_attention(q, k, v, mask, chunk_size=4), expected,
                               **tol(torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_scores_do_not_overflow(dtype):
    # scores of order 10⁵: exp would overflow without the running maximum
    q, k, v = qkv((2,), 8, 12, 4, 3, dtype, seed=8, scale=300.0)
    out = chunked_attention(q, k, v, chunk_size=5)
    assert torch.isfinite(out).all()
    expected, _ = scaled_dot_product_attention(q.double(), k.double(), v.double())
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_gradients_flow_and_match():
    q, k, v = (t.requires_grad_() for t in qkv((2,), 7, 11, 4, 3, torch.float64, seed=9))
    chunked_attention(q, k, v, chunk_size=3).square().sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    torch_sdpa(q, k, v).square().sum().backward()
    for mine, theirs in zip(grads, (q.grad, k.grad, v.grad), strict=True):
        torch.testing.assert_close(mine, theirs, **tol(torch.float64))


def test_online_softmax_by_blocks_equals_softmax():
    scores = randn(4, 10, dtype=torch.float64, seed=10) * 5
    values = randn(10, 3, dtype=torch.float64, seed=11)
    state = OnlineSoftmax(torch.Size([4]), 3, torch.float64, torch.device("cpu"))
    for block in (slice(0, 3), slice(3, 4), slice(4, 10)):
        state.update(scores[:, block], values[block])
    torch.testing.assert_close(state.result(), torch.softmax(scores, -1) @ values,
                               **tol(torch.float64))
    torch.testing.assert_close(state.max, scores.amax(-1, keepdim=True), rtol=0, atol=0)


def test_the_input_is_not_modified():
    q, k, v = qkv((2,), 5, 6, 4, 3, torch.float32, seed=12)
    before = [t.clone() for t in (q, k, v)]
    chunked_attention(q, k, v, chunk_size=2)
    for t, b in zip((q, k, v), before, strict=True):
        assert torch.equal(t, b)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive int"),
    ({"chunk_size": 2.5}, ValueError, "chunk_size must be a positive int"),
    ({"chunk_size": True}, ValueError, "chunk_size must be a positive int"),
    ({"mask": torch.ones(5, 7)}, TypeError, "mask must be a boolean tensor"),
    ({"mask": torch.ones(4, 7, dtype=torch.bool)}, ValueError, "does not broadcast"),
])
def test_bad_arguments(kwargs, error, match):
    q, k, v = qkv((), 5, 7, 4, 3, torch.float32)
    with pytest.raises(error, match=match):
        chunked_attention(q, k, v, **kwargs)


@pytest.mark.parametrize("shapes, match", [
    (((5, 4), (7, 3), (7, 3)), "same last dimension d"),
    (((5, 4), (7, 4), (6, 3)), "same number of rows n_k"),
    (((2, 5, 4), (3, 7, 4), (3, 7, 3)), "same leading"),
    (((4,), (7, 4), (7, 3)), "at least 2 dimensions"),
])
def test_bad_shapes_name_the_argument(shapes, match):
    tensors = [torch.zeros(*s) for s in shapes]
    with pytest.raises(ValueError, match=match):
        chunked_attention(*tensors)


def test_mixed_dtypes_and_integer_tensors_are_refused():
    q, k, v = qkv((), 5, 7, 4, 3, torch.float32)
    with pytest.raises(TypeError, match="one dtype"):
        chunked_attention(q, k.double(), v)
    with pytest.raises(TypeError, match="floating-point"):
        chunked_attention(q.long(), k, v)


# ------------------------------------------------------------------ naive and memory counter
from course_utils.efficient import (  # noqa: E402
    count_operations,
    naive_attention,
    peak_tensor_memory,
)


@pytest.mark.parametrize("dtype", DTYPES)
def test_naive_attention_equals_torch(dtype):
    q, k, v = qkv((2, 3), 9, 11, 4, 5, dtype, seed=13)
    torch.testing.assert_close(naive_attention(q, k, v), torch_sdpa(q, k, v), **tol(dtype))


def test_peak_counts_new_tensors_exactly():
    result, peak = peak_tensor_memory(lambda: torch.zeros(1000))
    assert peak == 4000 and result.shape == (1000,)
    assert peak_tensor_memory(lambda: torch.zeros(10, dtype=torch.float64))[1] == 80


def test_peak_ignores_inputs_views_and_in_place_results():
    x = torch.zeros(1000)
    assert peak_tensor_memory(lambda t: t.view(10, 100).t()[2:], x)[1] == 0
    assert peak_tensor_memory(lambda t: t.add_(1), x)[1] == 0
    assert peak_tensor_memory(lambda t: t[10:] + 0, x)[1] == 990 * 4


def test_peak_follows_frees():
    def one_at_a_time():
        a = torch.zeros(1000)
        del a                         # freed before the next one exists
        return torch.zeros(1000)

    def both_at_once():
        a, b = torch.zeros(1000), torch.zeros(1000)
        return a + b                  # a, b and the sum alive together

    assert peak_tensor_memory(one_at_a_time)[1] == 4000
    assert peak_tensor_memory(both_at_once)[1] == 12000


def test_naive_memory_is_quadratic_and_chunked_is_not():
    n, heads = 512, 2
    q, k, v = qkv((1, heads), n, n, 16, 16, torch.float32, seed=14)
    matrix = heads * n * n * 4
    naive_peak = peak_tensor_memory(naive_attention, q, k, v)[1]
    chunked_peak = peak_tensor_memory(lambda *t: chunked_attention(*t, chunk_size=64),
                                      q, k, v)[1]
    assert 2 * matrix <= naive_peak < 3 * matrix          # scores and weights at once
    assert chunked_peak < matrix / 4                      # never a whole n × n matrix


def test_peak_runs_without_gradients():
    q, k, v = (t.requires_grad_() for t in qkv((), 4, 4, 2, 2, torch.float32))
    out, _ = peak_tensor_memory(naive_attention, q, k, v)
    assert not out.requires_grad


def test_meta_tensors_are_not_counted_so_masks_cost_no_n_squared():
    assert peak_tensor_memory(lambda: torch.empty(1, 8, 2048, 2048, device="meta"))[1] == 0
    q, k, v = qkv((1, 2), 512, 512, 8, 8, torch.float32, seed=15)
    causal = torch.ones(512, 512, dtype=torch.bool).tril()
    plain = peak_tensor_memory(lambda: chunked_attention(q, k, v, chunk_size=64))[1]
    masked = peak_tensor_memory(lambda: chunked_attention(q, k, v, causal, chunk_size=64))[1]
    assert masked < plain + 2 * 2 * 64 * 64 * 4  # at most a masked copy of a block more


@pytest.mark.parametrize("dtype, bound", [(torch.float16, 2e-3), (torch.bfloat16, 1.5e-2)])
def test_half_precision_accumulates_in_float32(dtype, bound):
    q, k, v = qkv((2, 2), 40, 300, 16, 8, torch.float64, seed=16)
    exact = torch_sdpa(q, k, v)
    out = chunked_attention(q.to(dtype), k.to(dtype), v.to(dtype), chunk_size=16)
    assert out.dtype == dtype
    assert (out.double() - exact).abs().max() < bound


def test_no_queries_and_numpy_chunk_sizes():
    import numpy as np

    q, k, v = qkv((2,), 0, 5, 4, 3, torch.float32)
    assert chunked_attention(q, k, v).shape == (2, 0, 3)
    q, k, v = qkv((2,), 6, 5, 4, 3, torch.float32)
    torch.testing.assert_close(chunked_attention(q, k, v, chunk_size=np.int64(4)),
                               torch_sdpa(q, k, v), **tol(torch.float32))


def test_saved_for_backward_counts_each_storage_once():
    from course_utils.efficient import saved_for_backward

    x = torch.randn(1000, requires_grad=True)
    result, nbytes = saved_for_backward(lambda: (x * x).sum())   # saves x twice: one storage
    assert nbytes == 4000 and result.requires_grad
    _, nbytes = saved_for_backward(lambda: x.exp().sum())      # saves its output
    assert nbytes == 4000
    _, nbytes = saved_for_backward(lambda: (x.double() * 2).sum())  # the cast saves nothing
    assert nbytes == 0
    with torch.no_grad():
        assert saved_for_backward(lambda: x.exp())[1] == 0      # no graph, nothing kept


def test_count_operations_counts_dispatched_operations_backward_included():
    x = torch.randn(4, 3, requires_grad=True)
    result, forward = count_operations(lambda: (x * 2).sum())
    assert result.shape == () and forward == 2                       # mul, sum
    _, with_backward = count_operations(lambda: (x * 2).sum().backward())
    assert with_backward > forward


def test_count_operations_grows_with_a_loop_and_not_with_a_matrix_size():
    def loop(n):
        h = torch.zeros(1, 8)
        for t in range(n):
            h = torch.tanh(h + t)
        return h

    assert [count_operations(loop, n)[1] for n in (1, 10, 20)] == [3, 21, 41]   # zeros + 2 n
    small, large = torch.randn(8, 8), torch.randn(512, 512)
    assert count_operations(torch.mm, small, small)[1] == 1
    assert count_operations(torch.mm, large, large)[1] == 1
