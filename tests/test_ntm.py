"""course_utils.ntm, the Neural Turing Machine (Graves et al., 2014, eq. 2–9).

Each addressing function is checked against a direct implementation of its equation written
here with plain loops over NumPy float64 arrays (never calling the module), then its special
cases, the normalisation of the weightings through the whole chain, the argument checks, and
the NTM module (shapes, normalised weightings, determinism, gradients, a tiny copy task).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numerics import gen, ntm_functions, randn, tol
from torch import nn

from course_utils import ntm, set_seed
from course_utils.ntm import (
    NTM,
    NTMOutput,
    circular_shift,
    content_addressing,
    interpolate,
    read,
    sharpen,
    write,
)

torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
BATCH, ROWS, WIDTH = 3, 7, 5


# =========================================================================== helpers
def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def as_torch(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64)).to(dtype)


def uniform(*shape: int, dtype: torch.dtype, seed: int, low: float = 0.0,
            high: float = 1.0) -> torch.Tensor:
    """Uniform numbers drawn in float64 (the same values for every dtype)."""
    u = torch.rand(*shape, generator=gen(seed), dtype=torch.float64)
    return (low + (high - low) * u).to(dtype)


def weighting(batch: int, rows: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """A random normalised weighting with distinct positive entries."""
    return torch.softmax(2 * randn(batch, rows, dtype=torch.float64, seed=seed), -1).to(dtype)


def scalar(values, dtype: torch.dtype) -> torch.Tensor:
    """One scalar per batch element, shape (batch, 1)."""
    return torch.tensor(values, dtype=dtype).reshape(-1, 1)


def one_hot(batch_rows, rows: int, dtype: torch.dtype) -> torch.Tensor:
    w = torch.zeros(len(batch_rows), rows, dtype=dtype)
    for b, r in enumerate(batch_rows):
        w[b, r] = 1.0
    return w


def assert_normalised(w: torch.Tensor, dtype: torch.dtype, what: str = "") -> None:
    assert torch.isfinite(w).all(), f"{what}: not finite"
    assert (w >= 0).all(), f"{what}: negative entries"
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=w.dtype),
                               **tol(dtype), msg=lambda m: f"{what}: does not sum to 1\n{m}")


# ======================================================= direct implementations (NumPy loops)
def ref_content(memory, key, beta):
    """Eq. 5–6: softmax_i(β · k·Mᵢ / (‖k‖ ‖Mᵢ‖))."""
    batch, rows, width = memory.shape
    out = np.zeros((batch, rows))
    for b in range(batch):
        key_norm = math.sqrt(sum(key[b, k] ** 2 for k in range(width)))
        scores = []
        for i in range(rows):
            dot = sum(key[b, k] * memory[b, i, k] for k in range(width))
            row_norm = math.sqrt(sum(memory[b, i, k] ** 2 for k in range(width)))
            scores.append(beta[b, 0] * dot / (key_norm * row_norm))
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        for i in range(rows):
            out[b, i] = exps[i] / sum(exps)
    return out


def ref_interpolate(w_content, w_prev, g):
    """Eq. 7: g · w^c + (1 − g) · w_prev."""
    batch, rows = w_content.shape
    out = np.zeros((batch, rows))
    for b in range(batch):
        for i in range(rows):
            out[b, i] = g[b, 0] * w_content[b, i] + (1 - g[b, 0]) * w_prev[b, i]
    return out


def ref_shift(w, s):
    """Eq. 8: out[i] = Σⱼ w[(i − (j − K//2)) mod N] · s[j]."""
    batch, rows = w.shape
    size = s.shape[1]
    out = np.zeros((batch, rows))
    for b in range(batch):
        for i in range(rows):
            for j in range(size):
                out[b, i] += w[b, (i - (j - size // 2)) % rows] * s[b, j]
    return out


def ref_sharpen(w, gamma, eps=0.0):
    """Eq. 9: (wᵢ + eps)^γ / Σⱼ (wⱼ + eps)^γ (eps = 0 is the paper's equation)."""
    batch, rows = w.shape
    out = np.zeros((batch, rows))
    for b in range(batch):
        powered = [(w[b, i] + eps) ** gamma[b, 0] for i in range(rows)]
        for i in range(rows):
            out[b, i] = powered[i] / sum(powered)
    return out


def ref_read(memory, w):
    """Eq. 2: r = Σᵢ wᵢ Mᵢ."""
    batch, rows, width = memory.shape
    out = np.zeros((batch, width))
    for b in range(batch):
        for i in range(rows):
            for k in range(width):
                out[b, k] += w[b, i] * memory[b, i, k]
    return out


def ref_write(memory, w, erase, add):
    """Eq. 3–4: M̃ᵢ = Mᵢ ⊙ (1 − wᵢ e), then Mᵢ = M̃ᵢ + wᵢ a."""
    batch, rows, width = memory.shape
    out = np.zeros((batch, rows, width))
    for b in range(batch):
        for i in range(rows):
            for k in range(width):
                erased = memory[b, i, k] * (1 - w[b, i] * erase[b, k])
                out[b, i, k] = erased + w[b, i] * add[b, k]
    return out


# ================================================================ content addressing (5–6)
@pytest.mark.parametrize("dtype", DTYPES)
def test_content_addressing_matches_equation(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=1)
    key = randn(BATCH, WIDTH, dtype=dtype, seed=2)
    beta = uniform(BATCH, 1, dtype=dtype, seed=3, low=0.5, high=5.0)
    out = content_addressing(memory, key, beta)
    assert out.shape == (BATCH, ROWS) and out.dtype == dtype
    expected = ref_content(as_np(memory), as_np(key), as_np(beta))
    torch.testing.assert_close(out, as_torch(expected, dtype), **tol(dtype))
    assert_normalised(out, dtype, "content weighting")


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_addressing_beta_zero_is_uniform(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=4)
    key = randn(BATCH, WIDTH, dtype=dtype, seed=5)
    out = content_addressing(memory, key, torch.zeros(BATCH, 1, dtype=dtype))
    torch.testing.assert_close(out, torch.full((BATCH, ROWS), 1 / ROWS, dtype=dtype),
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_addressing_large_beta_is_one_hot_on_most_similar_row(dtype):
    """The lookup is by cosine, not by dot product: a long row pointing a little away from the
    key has the largest dot product but must lose to a short row pointing along the key."""
    memory = randn(BATCH, ROWS, WIDTH, dtype=torch.float64, seed=6)
    key = randn(BATCH, WIDTH, dtype=torch.float64, seed=7)
    targets, distractors = [1, 4, 6], [2, 0, 3]
    for b, (t, d) in enumerate(zip(targets, distractors, strict=True)):
        memory[b, t] = 0.1 * key[b] + 0.01 * memory[b, t]  # short, nearly parallel
        memory[b, d] = 100 * (key[b] + 0.5 * memory[b, d])  # long, less parallel
    memory, key = memory.to(dtype), key.to(dtype)
    dots = (memory @ key.unsqueeze(-1)).squeeze(-1)
    cosine = ref_content(as_np(memory), as_np(key), np.ones((BATCH, 1)))  # softmax is monotone
    assert dots.argmax(-1).tolist() == distractors  # the premise of the test
    assert cosine.argmax(-1).tolist() == targets
    out = content_addressing(memory, key, torch.full((BATCH, 1), 1e4, dtype=dtype))
    torch.testing.assert_close(out, one_hot(targets, ROWS, dtype), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_addressing_ignores_lengths(dtype):
    """Cosine similarity: rescaling the key or a row by a positive number changes nothing."""
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=8)
    key = randn(BATCH, WIDTH, dtype=dtype, seed=9)
    beta = torch.full((BATCH, 1), 3.0, dtype=dtype)
    scale = uniform(BATCH, ROWS, 1, dtype=dtype, seed=10, low=0.1, high=10.0)
    torch.testing.assert_close(content_addressing(memory * scale, 7 * key, beta),
                               content_addressing(memory, key, beta), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_addressing_of_a_zero_memory_is_uniform(dtype):
    """The NTM's memory starts (nearly) constant: no NaN from a zero norm."""
    key = randn(BATCH, WIDTH, dtype=dtype, seed=11)
    out = content_addressing(torch.zeros(BATCH, ROWS, WIDTH, dtype=dtype), key,
                             torch.full((BATCH, 1), 5.0, dtype=dtype))
    torch.testing.assert_close(out, torch.full((BATCH, ROWS), 1 / ROWS, dtype=dtype),
                               **tol(dtype))


# ===================================================================== interpolation (7)
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_matches_equation(dtype):
    w_content, w_prev = weighting(BATCH, ROWS, dtype, 12), weighting(BATCH, ROWS, dtype, 13)
    g = uniform(BATCH, 1, dtype=dtype, seed=14)
    out = interpolate(w_content, w_prev, g)
    assert out.shape == (BATCH, ROWS) and out.dtype == dtype
    expected = ref_interpolate(as_np(w_content), as_np(w_prev), as_np(g))
    torch.testing.assert_close(out, as_torch(expected, dtype), **tol(dtype))
    assert_normalised(out, dtype, "interpolated weighting")


@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate_gate_one_is_content_and_zero_is_previous(dtype):
    w_content, w_prev = weighting(BATCH, ROWS, dtype, 15), weighting(BATCH, ROWS, dtype, 16)
    out = interpolate(w_content, w_prev, scalar([1.0, 0.0, 1.0], dtype))
    assert torch.equal(out[0], w_content[0]) and torch.equal(out[2], w_content[2])
    assert torch.equal(out[1], w_prev[1])
    assert torch.equal(interpolate(w_content, w_prev, torch.ones(BATCH, 1, dtype=dtype)),
                       w_content)
    assert torch.equal(interpolate(w_content, w_prev, torch.zeros(BATCH, 1, dtype=dtype)),
                       w_prev)


# ============================================================ convolutional shift (8)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 3, 5, ROWS])
def test_circular_shift_matches_loop_formula(dtype, size):
    w = weighting(BATCH, ROWS, dtype, 17)
    shift = torch.softmax(randn(BATCH, size, dtype=torch.float64, seed=18), -1).to(dtype)
    out = circular_shift(w, shift)
    assert out.shape == (BATCH, ROWS) and out.dtype == dtype
    torch.testing.assert_close(out, as_torch(ref_shift(as_np(w), as_np(shift)), dtype),
                               **tol(dtype))
    assert_normalised(out, dtype, "shifted weighting")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [3, 5])
def test_circular_shift_moves_one_hot_with_wraparound(dtype, size):
    """Column K//2 + s is the shift s: row i goes to row (i + s) mod N, in both directions,
    for every row (the last row wraps to 0 under +1, row 0 to the last under −1)."""
    half = size // 2
    w = one_hot(range(ROWS), ROWS, dtype)  # batch element i has its focus on row i
    for s in range(-half, half + 1):
        shift = torch.zeros(ROWS, size, dtype=dtype)
        shift[:, half + s] = 1.0
        expected = one_hot([(i + s) % ROWS for i in range(ROWS)], ROWS, dtype)
        assert torch.equal(circular_shift(w, shift), expected), f"shift {s:+d}"
    plus_one = torch.zeros(ROWS, size, dtype=dtype)
    plus_one[:, half + 1] = 1.0
    out = circular_shift(w, plus_one)
    assert out[ROWS - 1, 0] == 1 and out[0, 1] == 1  # last → 0, 0 → 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_circular_shift_k1_is_the_identity(dtype):
    w = weighting(BATCH, ROWS, dtype, 19)
    assert torch.equal(circular_shift(w, torch.ones(BATCH, 1, dtype=dtype)), w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_circular_shift_blurs_and_conserves_total(dtype):
    # Asymmetric, so that the two directions are told apart: 0.2 on −1, 0.1 on +1.
    shift = torch.tensor([[0.2, 0.7, 0.1]], dtype=dtype)
    out = circular_shift(one_hot([0], ROWS, dtype), shift)
    expected = torch.zeros(1, ROWS, dtype=dtype)
    expected[0, ROWS - 1], expected[0, 0], expected[0, 1] = 0.2, 0.7, 0.1
    torch.testing.assert_close(out, expected, **tol(dtype))
    assert out.max() < 1  # blurred
    w = weighting(BATCH, ROWS, dtype, 20) * scalar([1.0, 2.0, 0.5], dtype)
    shift = uniform(BATCH, 5, dtype=dtype, seed=21)
    shift = shift / shift.sum(-1, keepdim=True)                   # a distribution over shifts
    torch.testing.assert_close(circular_shift(w, shift).sum(-1), w.sum(-1), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_circular_shift_batch_elements_use_their_own_shift(dtype):
    w = one_hot([2, 2, 2], ROWS, dtype)
    shift = torch.eye(3, dtype=dtype)  # −1, 0, +1
    assert torch.equal(circular_shift(w, shift), one_hot([1, 2, 3], ROWS, dtype))


# ========================================================================= sharpening (9)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sharpen_matches_equation(dtype):
    w = weighting(BATCH, ROWS, dtype, 22)
    gamma = uniform(BATCH, 1, dtype=dtype, seed=23, low=1.0, high=6.0)
    out = sharpen(w, gamma)
    assert out.shape == (BATCH, ROWS) and out.dtype == dtype
    exact = ref_sharpen(as_np(w), as_np(gamma), eps=ntm.EPS)  # as documented in the code
    torch.testing.assert_close(out, as_torch(exact, dtype), **tol(dtype))
    paper = ref_sharpen(as_np(w), as_np(gamma))  # eq. 9 itself: EPS moves it very little
    torch.testing.assert_close(out, as_torch(paper, dtype), rtol=0, atol=1e-6)
    assert_normalised(out, dtype, "sharpened weighting")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sharpen_gamma_one_changes_nothing_but_eps(dtype):
    w = torch.cat([weighting(BATCH - 1, ROWS, dtype, 24), one_hot([3], ROWS, dtype)])
    out = sharpen(w, torch.ones(BATCH, 1, dtype=dtype))
    # (w + ε) / (1 + Nε) − w = ε (1 − N w) / (1 + Nε): at most Nε in absolute value.
    atol = ROWS * ntm.EPS + (1e-7 if dtype == torch.float32 else 1e-15)
    torch.testing.assert_close(out, w, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sharpen_larger_gamma_concentrates(dtype):
    # Entries 2⁰ … 2⁶ (normalised), in a different order for each batch element.
    base = torch.tensor([2.0 ** i for i in range(ROWS)], dtype=torch.float64)
    orders = torch.stack([torch.randperm(ROWS, generator=gen(26 + b)) for b in range(BATCH)])
    w = (base[orders] / base.sum()).to(dtype)
    larger = w.unsqueeze(-1) > w.unsqueeze(-2)  # larger[b, i, j]: w_i > w_j

    def entropy(v):
        return -(v * v.clamp_min(1e-300).log()).sum(-1)

    previous = w
    for value in [1.5, 2.0, 4.0, 10.0, 20.0]:
        out = sharpen(w, torch.full((BATCH, 1), value, dtype=dtype))
        assert_normalised(out, dtype, f"gamma {value}")
        assert torch.equal(out.argmax(-1), w.argmax(-1)), value
        # The order of the rows is kept (ties only where float32 underflows to 0).
        assert (out.unsqueeze(-1) >= out.unsqueeze(-2))[larger].all(), value
        assert (out.max(-1).values > previous.max(-1).values).all(), value
        assert (out.min(-1).values <= previous.min(-1).values).all(), value
        assert (entropy(out) < entropy(previous)).all(), value
        previous = out
    assert (previous.max(-1).values > 0.999).all()  # γ = 20: one-hot up to 2⁻²⁰


# (w_i + EPS)^γ underflows to 0 in every row for a spread-out weighting and a large γ
# (float32: uniform over 128 rows with γ ≥ 22); γ = 1 + softplus(·) is unbounded in the NTM, so
# sharpen must still return a normalised weighting (it works in the log domain).
@pytest.mark.parametrize("dtype, rows, value", [(torch.float32, 128, 30.0),
                                                (torch.float32, 16, 40.0),
                                                (torch.float64, 128, 200.0)])
def test_sharpen_diffuse_weighting_with_large_gamma_stays_normalised(dtype, rows, value):
    w = torch.full((2, rows), 1 / rows, dtype=dtype)
    out = sharpen(w, torch.full((2, 1), value, dtype=dtype))
    assert_normalised(out, dtype, f"sharpen(uniform over {rows} rows, γ={value})")
    torch.testing.assert_close(out, w, **tol(dtype))  # sharpening keeps a uniform weighting


# ============================================================================ read / write
@pytest.mark.parametrize("dtype", DTYPES)
def test_read_is_weighted_sum(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=26)
    w = weighting(BATCH, ROWS, dtype, 27)
    out = read(memory, w)
    assert out.shape == (BATCH, WIDTH) and out.dtype == dtype
    torch.testing.assert_close(out, as_torch(ref_read(as_np(memory), as_np(w)), dtype),
                               **tol(dtype))
    rows = [0, 3, ROWS - 1]
    assert torch.equal(read(memory, one_hot(rows, ROWS, dtype)),
                       torch.stack([memory[b, r] for b, r in enumerate(rows)]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_write_matches_equation(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=28)
    w = weighting(BATCH, ROWS, dtype, 29)
    erase = uniform(BATCH, WIDTH, dtype=dtype, seed=30)
    add = randn(BATCH, WIDTH, dtype=dtype, seed=31)
    out = write(memory, w, erase, add)
    assert out.shape == (BATCH, ROWS, WIDTH) and out.dtype == dtype
    expected = ref_write(as_np(memory), as_np(w), as_np(erase), as_np(add))
    torch.testing.assert_close(out, as_torch(expected, dtype), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_write_full_erase_clears_only_the_addressed_row(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=32)
    rows = [0, 5, ROWS - 1]
    out = write(memory, one_hot(rows, ROWS, dtype), torch.ones(BATCH, WIDTH, dtype=dtype),
                torch.zeros(BATCH, WIDTH, dtype=dtype))
    for b, r in enumerate(rows):
        assert torch.equal(out[b, r], torch.zeros(WIDTH, dtype=dtype))
        others = [i for i in range(ROWS) if i != r]
        assert torch.equal(out[b, others], memory[b, others])


@pytest.mark.parametrize("dtype", DTYPES)
def test_write_then_read_returns_the_added_vector(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=33)
    w = one_hot([2, 0, ROWS - 1], ROWS, dtype)
    add = randn(BATCH, WIDTH, dtype=dtype, seed=34)
    written = write(memory, w, torch.ones(BATCH, WIDTH, dtype=dtype), add)
    torch.testing.assert_close(read(written, w), add, **tol(dtype))
    # Without erasing, the row holds old + a.
    kept = write(memory, w, torch.zeros(BATCH, WIDTH, dtype=dtype), add)
    torch.testing.assert_close(read(kept, w), read(memory, w) + add, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_write_does_not_modify_its_inputs(dtype):
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=35)
    w = weighting(BATCH, ROWS, dtype, 36)
    erase = uniform(BATCH, WIDTH, dtype=dtype, seed=37)
    add = randn(BATCH, WIDTH, dtype=dtype, seed=38)
    before = [t.clone() for t in (memory, w, erase, add)]
    out = write(memory, w, erase, add)
    for original, copy in zip((memory, w, erase, add), before, strict=True):
        assert torch.equal(original, copy)
    assert not torch.equal(out, memory)  # it did write something
    # The result owns its storage: writing into it leaves the input memory alone.
    assert out.data_ptr() != memory.data_ptr()
    assert out.untyped_storage().data_ptr() != memory.untyped_storage().data_ptr()
    out.add_(1.0)
    assert torch.equal(memory, before[0])


# ============================================================ the whole addressing chain
@pytest.mark.parametrize("dtype", DTYPES)
def test_weightings_stay_normalised_through_the_chain(dtype):
    """Several steps of content → interpolate → shift → sharpen → write, with gates and
    strengths at their extremes as well as in between."""
    memory = randn(BATCH, ROWS, WIDTH, dtype=dtype, seed=39)
    w = one_hot([0, 0, 0], ROWS, dtype)
    settings = [([0.0, 1.0, 50.0], [0.0, 0.3, 1.0], [1.0, 3.0, 10.0]),
                ([100.0, 0.0, 2.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]),
                ([2.0, 20.0, 0.5], [0.5, 0.0, 0.9], [25.0, 2.0, 5.0])]
    for step, (beta, g, gamma) in enumerate(settings * 2):
        key = randn(BATCH, WIDTH, dtype=dtype, seed=100 + step)
        shift = torch.softmax(randn(BATCH, 3, dtype=torch.float64, seed=200 + step), -1)
        stages = {}
        stages["content"] = content_addressing(memory, key, scalar(beta, dtype))
        stages["interpolate"] = interpolate(stages["content"], w, scalar(g, dtype))
        stages["shift"] = circular_shift(stages["interpolate"], shift.to(dtype))
        stages["sharpen"] = sharpen(stages["shift"], scalar(gamma, dtype))
        for name, value in stages.items():
            assert value.dtype == dtype
            assert_normalised(value, dtype, f"step {step}, {name}")
        w = stages["sharpen"]
        memory = write(memory, w, uniform(BATCH, WIDTH, dtype=dtype, seed=300 + step),
                       randn(BATCH, WIDTH, dtype=dtype, seed=400 + step))


def test_addressing_read_and_write_gradients_are_correct():
    """torch.autograd.gradcheck (float64) through every function of the chain."""
    memory = randn(2, 5, 3, dtype=torch.float64, seed=40).requires_grad_()
    key = randn(2, 3, dtype=torch.float64, seed=41).requires_grad_()
    beta = uniform(2, 1, dtype=torch.float64, seed=42, low=0.5, high=3).requires_grad_()
    w_prev = weighting(2, 5, torch.float64, 43).requires_grad_()
    g = uniform(2, 1, dtype=torch.float64, seed=44).requires_grad_()
    shift = torch.softmax(randn(2, 3, dtype=torch.float64, seed=45), -1).requires_grad_()
    gamma = uniform(2, 1, dtype=torch.float64, seed=46, low=1, high=3).requires_grad_()
    erase = uniform(2, 3, dtype=torch.float64, seed=47).requires_grad_()
    add = randn(2, 3, dtype=torch.float64, seed=48).requires_grad_()

    def chain(memory, key, beta, w_prev, g, shift, gamma, erase, add):
        w = content_addressing(memory, key, beta)
        w = sharpen(circular_shift(interpolate(w, w_prev, g), shift), gamma)
        return read(write(memory, w, erase, add), w)

    assert torch.autograd.gradcheck(chain, (memory, key, beta, w_prev, g, shift, gamma,
                                            erase, add))


# ========================================================================= argument checks
def _args(**changes):
    """Valid arguments (batch 3, N 7, M 5) for every function, with some replaced."""
    f = torch.float32
    args = {"memory": torch.zeros(BATCH, ROWS, WIDTH, dtype=f) + 0.1,
            "key": torch.ones(BATCH, WIDTH, dtype=f), "beta": torch.ones(BATCH, 1, dtype=f),
            "w": torch.full((BATCH, ROWS), 1 / ROWS, dtype=f),
            "w_content": torch.full((BATCH, ROWS), 1 / ROWS, dtype=f),
            "w_prev": torch.full((BATCH, ROWS), 1 / ROWS, dtype=f),
            "g": torch.ones(BATCH, 1, dtype=f), "shift": torch.ones(BATCH, 3, dtype=f) / 3,
            "gamma": torch.ones(BATCH, 1, dtype=f), "erase": torch.ones(BATCH, WIDTH, dtype=f),
            "add": torch.ones(BATCH, WIDTH, dtype=f)}
    args.update(changes)
    return args


FUNCTIONS = ntm_functions()


def call(function: str, **changes):
    fn, names = FUNCTIONS[function]
    args = _args(**changes)
    return fn(*(args[name] for name in names))


def test_valid_arguments_are_accepted():
    """The baseline of the error tests below: without a change every call succeeds."""
    for function in FUNCTIONS:
        assert torch.isfinite(call(function)).all(), function


f32 = torch.float32
BAD_SHAPES = [
    ("content_addressing", "memory", {"memory": torch.zeros(ROWS, WIDTH)}),
    ("content_addressing", "key", {"key": torch.ones(BATCH, WIDTH + 1)}),
    ("content_addressing", "key", {"key": torch.ones(BATCH + 1, WIDTH)}),
    ("content_addressing", "key", {"key": torch.ones(WIDTH)}),
    ("content_addressing", "beta", {"beta": torch.ones(BATCH)}),
    ("content_addressing", "beta", {"beta": torch.ones(BATCH, 2)}),
    ("content_addressing", "beta", {"beta": torch.ones(BATCH + 1, 1)}),
    ("interpolate", "w_content", {"w_content": torch.ones(BATCH, ROWS, 1)}),
    ("interpolate", "w_prev", {"w_prev": torch.ones(BATCH, ROWS + 1) / ROWS}),
    ("interpolate", "w_prev", {"w_prev": torch.ones(BATCH + 1, ROWS) / ROWS}),
    ("interpolate", "g", {"g": torch.ones(BATCH)}),
    ("interpolate", "g", {"g": torch.ones(1, 1)}),
    ("circular_shift", "w", {"w": torch.ones(ROWS)}),
    ("circular_shift", "shift", {"shift": torch.ones(BATCH, 4)}),
    ("circular_shift", "shift", {"shift": torch.ones(BATCH, 2)}),
    ("circular_shift", "shift", {"shift": torch.ones(BATCH, ROWS + 2)}),
    ("circular_shift", "shift", {"shift": torch.ones(BATCH + 1, 3)}),
    ("circular_shift", "shift", {"shift": torch.ones(3)}),
    ("sharpen", "gamma", {"gamma": torch.ones(BATCH)}),
    ("sharpen", "gamma", {"gamma": torch.ones(BATCH - 1, 1)}),
    ("sharpen", "w", {"w": torch.ones(BATCH, ROWS, 1)}),
    ("read", "memory", {"memory": torch.zeros(BATCH, ROWS)}),
    ("read", "w", {"w": torch.ones(BATCH, ROWS + 1)}),
    ("read", "w", {"w": torch.ones(BATCH - 1, ROWS)}),
    ("write", "memory", {"memory": torch.zeros(1, BATCH, ROWS, WIDTH)}),
    ("write", "w", {"w": torch.ones(BATCH, ROWS - 1)}),
    ("write", "w", {"w": torch.ones(BATCH + 1, ROWS)}),
    ("write", "erase", {"erase": torch.ones(BATCH, WIDTH + 1)}),
    ("write", "erase", {"erase": torch.ones(WIDTH)}),
    ("write", "add", {"add": torch.ones(BATCH - 1, WIDTH)}),
    ("write", "add", {"add": torch.ones(BATCH, 1, WIDTH)}),
]


@pytest.mark.parametrize("function, name, changes", BAD_SHAPES,
                         ids=[f"{f}-{n}-{i}" for i, (f, n, _) in enumerate(BAD_SHAPES)])
def test_bad_shape_raises_value_error_naming_the_argument(function, name, changes):
    with pytest.raises(ValueError, match=rf"^{name}\b") as info:
        call(function, **changes)
    assert str(tuple(changes[name].shape)) in str(info.value) or name == "shift"


BAD_TYPES = [(function, name, kind) for function, (_, names) in FUNCTIONS.items()
             for name in names for kind in ["list", "ndarray", "int64", "bool"]]


def _bad(value: torch.Tensor, kind: str):
    return {"list": value.tolist(), "ndarray": value.numpy(),
            "int64": value.to(torch.int64), "bool": value > 0}[kind]


@pytest.mark.parametrize("function, name, kind", BAD_TYPES,
                         ids=[f"{f}-{n}-{k}" for f, n, k in BAD_TYPES])
def test_non_tensor_or_non_float_raises_type_error_naming_the_argument(function, name, kind):
    with pytest.raises(TypeError, match=rf"^{name}\b"):
        call(function, **{name: _bad(_args()[name], kind)})


# ================================================================================ the NTM
SMALL = {"controller_size": 32, "memory_rows": 16, "memory_width": 6}


def small_ntm(seed: int = 0, input_size: int = 4, output_size: int = 3) -> NTM:
    torch.manual_seed(seed)
    return NTM(input_size, output_size, **SMALL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ntm_output_shapes_and_normalised_weightings(dtype):
    model = small_ntm().to(dtype)
    x = randn(BATCH, 6, 4, dtype=dtype, seed=50)
    with torch.no_grad():
        result = model(x)
    assert isinstance(result, NTMOutput)
    assert result.outputs.shape == (BATCH, 6, 3)
    assert result.read_weights.shape == result.write_weights.shape == (BATCH, 6, 16)
    assert all(t.dtype == dtype for t in result)
    assert torch.isfinite(result.outputs).all()
    for t in range(6):
        assert_normalised(result.read_weights[:, t], dtype, f"read weighting, step {t}")
        assert_normalised(result.write_weights[:, t], dtype, f"write weighting, step {t}")


def test_ntm_default_sizes():
    model = NTM(2, 1)
    x = randn(1, 2, 2, dtype=torch.float32, seed=51)
    with torch.no_grad():
        result = model(x)
    assert result.outputs.shape == (1, 2, 1) and result.read_weights.shape == (1, 2, 128)
    assert model.controller.hidden_size == 100
    assert model.read_head.width == model.write_head.width == 20


def test_ntm_is_deterministic_and_keeps_no_state_between_calls():
    x = randn(BATCH, 5, 4, dtype=torch.float32, seed=52)
    model, again = small_ntm(seed=3), small_ntm(seed=3)
    for (name, p), (_, q) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):
        assert torch.equal(p, q), name
    with torch.no_grad():
        first, second, other = model(x), model(x), again(x)
    for a, b, c in zip(first, second, other, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    with torch.no_grad():
        different = small_ntm(seed=4)(x).outputs
    assert not torch.allclose(first.outputs, different)  # the seed matters


def test_ntm_batch_elements_are_independent():
    model = small_ntm(seed=5)
    x = randn(BATCH, 5, 4, dtype=torch.float64, seed=53)
    model = model.double()
    with torch.no_grad():
        batched = model(x)
        alone = [model(x[b:b + 1]) for b in range(BATCH)]
    for field in range(3):
        torch.testing.assert_close(batched[field],
                                   torch.cat([a[field] for a in alone]), **tol(torch.float64))


def test_ntm_gradients_reach_every_parameter():
    model = small_ntm(seed=6)
    x = randn(BATCH, 5, 4, dtype=torch.float32, seed=54)
    model(x).outputs.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_ntm_gradient_with_respect_to_the_input_is_correct():
    """gradcheck (float64) through the whole recurrence: every path from x to the outputs."""
    torch.manual_seed(7)
    model = NTM(2, 2, controller_size=4, memory_rows=4, memory_width=3).double()
    x = randn(2, 3, 2, dtype=torch.float64, seed=56).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: model(x).outputs, (x,))


def reference_forward(model: NTM, x: torch.Tensor) -> NTMOutput:
    """The step described in NTM's docstring, written out with the public functions; the
    heads are used as black boxes (h, memory, w_prev) → weighting [, erase, add]."""
    batch, steps, _ = x.shape
    memory = torch.full((batch, model.rows, model.width), 1e-6, dtype=x.dtype)
    w_read = w_write = one_hot([0] * batch, model.rows, x.dtype)
    r = torch.zeros(batch, model.width, dtype=x.dtype)
    state, outputs, reads, writes = None, [], [], []
    for t in range(steps):
        state = model.controller(torch.cat([x[:, t], r], -1), state)
        w_write, erase, add = model.write_head(state[0], memory, w_write)
        memory = write(memory, w_write, erase, add)
        (w_read,) = model.read_head(state[0], memory, w_read)
        r = read(memory, w_read)
        outputs.append(model.out(torch.cat([state[0], r], -1)))
        reads.append(w_read)
        writes.append(w_write)
    return NTMOutput(*(torch.stack(v, 1) for v in (outputs, reads, writes)))


def test_ntm_step_follows_its_documented_recurrence():
    model = small_ntm(seed=8).double()
    x = randn(BATCH, 6, 4, dtype=torch.float64, seed=57)
    with torch.no_grad():
        result, expected = model(x), reference_forward(model, x)
    for field, ours, ref in zip(NTMOutput._fields, result, expected, strict=True):
        torch.testing.assert_close(ours, ref, **tol(torch.float64), msg=field)


def test_ntm_head_applies_the_documented_squashings():
    """_Head's docstring: its linear output is [k (M), β, g, s (3), γ, e (M), a (M)] with
    β = softplus, g = sigmoid, s = softmax, γ = 1 + softplus, e = sigmoid, a = tanh, fed to
    eq. 5–9 in order."""
    model = small_ntm(seed=9).double()
    head, m = model.write_head, model.width
    h = randn(BATCH, 32, dtype=torch.float64, seed=58)
    memory = randn(BATCH, 16, m, dtype=torch.float64, seed=59)
    w_prev = weighting(BATCH, 16, torch.float64, 60)
    with torch.no_grad():
        w, erase, add = head(h, memory, w_prev)
        out = head.layer(h)
    softplus = nn.functional.softplus
    expected = content_addressing(memory, out[:, :m], softplus(out[:, m:m + 1]))
    expected = interpolate(expected, w_prev, torch.sigmoid(out[:, m + 1:m + 2]))
    expected = circular_shift(expected, torch.softmax(out[:, m + 2:m + 5], -1))
    expected = sharpen(expected, 1 + softplus(out[:, m + 5:m + 6]))
    torch.testing.assert_close(w, expected, **tol(torch.float64))
    torch.testing.assert_close(erase, torch.sigmoid(out[:, m + 6:2 * m + 6]),
                               **tol(torch.float64))
    torch.testing.assert_close(add, torch.tanh(out[:, 2 * m + 6:]), **tol(torch.float64))
    assert out.shape[1] == 3 * m + 6
    assert model.read_head.layer.out_features == m + 6
    (w_read,) = model.read_head(h, memory, w_prev)
    assert_normalised(w_read, torch.float64, "read head")


@pytest.mark.parametrize("changes, name", [
    ({"memory_rows": 2}, "memory_rows"), ({"memory_rows": 0}, "memory_rows"),
    ({"memory_rows": -4}, "memory_rows"), ({"memory_rows": 16.0}, "memory_rows"),
    ({"memory_rows": True}, "memory_rows"), ({"memory_rows": "16"}, "memory_rows"),
    ({"input_size": 0}, "input_size"), ({"output_size": 2.5}, "output_size"),
    ({"controller_size": 0}, "controller_size"), ({"memory_width": None}, "memory_width"),
])
def test_ntm_bad_sizes_raise_value_error(changes, name):
    sizes = {"input_size": 4, "output_size": 3, **SMALL, **changes}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        NTM(**sizes)


def test_ntm_smallest_memory_is_accepted():
    model = NTM(4, 3, controller_size=8, memory_rows=3, memory_width=2)
    with torch.no_grad():
        result = model(randn(2, 3, 4, dtype=torch.float32, seed=55))
    assert result.read_weights.shape == (2, 3, 3)
    assert_normalised(result.read_weights, torch.float32, "3-row memory")


def test_ntm_bad_input_raises():
    model = small_ntm()
    with pytest.raises(ValueError, match=r"^x must have shape \(batch, time, 4\)"):
        model(torch.zeros(BATCH, 5, 5))
    with pytest.raises(ValueError, match=r"^x\b"):
        model(torch.zeros(BATCH, 4))
    with pytest.raises(TypeError, match=r"^x\b"):
        model(torch.zeros(BATCH, 5, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"^x\b"):
        model(np.zeros((BATCH, 5, 4), dtype=np.float32))


# ---------------------------------------------------------------------- a tiny copy task
BITS, LENGTH = 4, 3


def copy_batch(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random bits for LENGTH steps, a delimiter (its own channel), then LENGTH blank steps
    during which the model must output the bits again."""
    data = torch.randint(0, 2, (batch, LENGTH, BITS), generator=gen(seed)).float()
    x = torch.zeros(batch, 2 * LENGTH + 1, BITS + 1)
    x[:, :LENGTH, :BITS] = data
    x[:, LENGTH, BITS] = 1.0
    return x, data


def copy_loss(model: NTM, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits = model(x).outputs[:, LENGTH + 1:]
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def train_copy(seed: int, steps: int = 30) -> tuple[NTM, list[float]]:
    set_seed(seed)
    model = NTM(BITS + 1, BITS, controller_size=32, memory_rows=16, memory_width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, target = copy_batch(16, seed=60)
    losses = []
    for _ in range(steps):
        loss = copy_loss(model, x, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(copy_loss(model, x, target).item())
    return model, losses


def test_copy_batch_layout():
    x, target = copy_batch(2, seed=60)
    assert x.shape == (2, 2 * LENGTH + 1, BITS + 1) and target.shape == (2, LENGTH, BITS)
    assert torch.equal(x[:, :LENGTH, :BITS], target)
    assert x[:, :, BITS].tolist() == [[0, 0, 0, 1, 0, 0, 0]] * 2
    assert x[:, LENGTH:, :BITS].abs().sum() == 0  # nothing to copy from after the delimiter


@pytest.mark.usefixtures("_restore_determinism")
def test_ntm_short_training_reduces_loss():
    _, losses = train_copy(seed=0)
    assert len(losses) == 31 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.01, losses


@pytest.mark.usefixtures("_restore_determinism")
def test_ntm_training_is_reproducible():
    (model, losses), (again, losses_again) = train_copy(seed=1), train_copy(seed=1)
    assert losses == losses_again
    for (name, p), (_, q) in zip(model.state_dict().items(), again.state_dict().items(),
                                 strict=True):
        assert torch.equal(p, q), name
    _, other = train_copy(seed=2, steps=2)
    assert other[0] != losses[0]  # a different seed is a different run


# ============================================================================ the copy task
def test_copy_task_batch_layout():
    from course_utils.tasks import copy_task_batch

    inputs, targets = copy_task_batch(3, 5, torch.Generator().manual_seed(0))
    assert inputs.shape == (3, 11, 9) and targets.shape == (3, 5, 8)
    assert torch.equal(inputs[:, :5, :8], targets)           # the sequence, then …
    assert torch.equal(inputs[:, 5], torch.cat([torch.zeros(3, 8), torch.ones(3, 1)], 1))
    assert (inputs[:, 6:] == 0).all() and (inputs[:, :5, 8] == 0).all()   # … blanks to recall in
    again, _ = copy_task_batch(3, 5, torch.Generator().manual_seed(0))
    assert torch.equal(inputs, again)
    with pytest.raises(ValueError, match="length"):
        copy_task_batch(3, 0, torch.Generator())


def test_copy_cost_in_bits_per_sequence():
    from course_utils.tasks import copy_cost_bits

    targets = torch.randint(0, 2, (2, 4, 8), generator=torch.Generator().manual_seed(1)).float()
    sure = (2 * targets - 1) * 50.0                          # confident and right: ~0 bits
    assert torch.allclose(copy_cost_bits(sure, targets), torch.zeros(2), atol=1e-6)
    unsure = torch.zeros(2, 4, 8)                            # p = 1/2 everywhere: 1 bit per bit
    assert torch.allclose(copy_cost_bits(unsure, targets), torch.full((2,), 32.0))


# ================================================================ LSTM baseline, training
def test_lstm_baseline_shapes_and_empty_weightings():
    from course_utils.ntm import LSTMBaseline

    out = LSTMBaseline(9, 8, hidden_size=16)(torch.randn(2, 7, 9))
    assert out.outputs.shape == (2, 7, 8)
    assert out.read_weights.shape == out.write_weights.shape == (2, 7, 0)
    with pytest.raises(ValueError, match="x must have shape"):
        LSTMBaseline(9, 8, hidden_size=16)(torch.randn(2, 9))


@pytest.mark.usefixtures("_restore_determinism")
@pytest.mark.parametrize("kind", ["ntm", "lstm"])
def test_train_copy_records_bits_and_is_reproducible(kind):
    from course_utils import set_seed
    from course_utils.ntm import LSTMBaseline, train_copy

    def build():
        set_seed(0)
        if kind == "ntm":
            return NTM(9, 8, controller_size=16, memory_rows=8, memory_width=4)
        return LSTMBaseline(9, 8, hidden_size=16)

    model, again = build(), build()
    log = train_copy(model, steps=6, max_length=4, progress=False)
    train_copy(again, steps=6, max_length=4, progress=False)
    assert len(log["bits"]) == 6 and all(b > 0 for b in log["bits"])
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("anneal", [-0.1, 1.5])
def test_train_copy_rejects_a_bad_anneal(anneal):
    from course_utils.ntm import train_copy

    with pytest.raises(ValueError, match="anneal"):
        train_copy(NTM(9, 8, 8, 4, 4), steps=1, anneal=anneal, progress=False)


def test_train_copy_anneals_the_last_steps(monkeypatch):
    from course_utils.worlds import copy_training as ntm_module

    seen = {}

    def fake_train(model, loss, steps, lr, schedule, optimizer, **kwargs):
        seen.update(lrs=[lr * schedule(step) for step in range(1, steps + 1)],
                    optimizer=optimizer)
        return {"loss": []}

    monkeypatch.setattr(ntm_module, "train", fake_train)
    ntm_module.train_copy(NTM(9, 8, 8, 4, 4), steps=10, lr=1e-3, anneal=0.2, progress=False)
    assert seen["optimizer"] == "rmsprop"
    assert seen["lrs"] == pytest.approx([1e-3] * 8 + [1e-4] * 2)
