"""course_utils.positional (sinusoidal_encoding, frequencies) against the notes' formula,
computed independently with math / numpy, and the properties the notes rely on:

    PE[pos, 2i]     = sin(pos / base^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / base^(2i / d_model))

– a shift by k positions is one fixed rotation R_k (block-diagonal, 2 × 2 blocks), so the
distance between two positions depends only on how far apart they are; every row is different;
row p is the same whatever the table's length.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils.positional import frequencies, sinusoidal_encoding

torch.set_num_threads(1)

DTYPES = [torch.float32, torch.float64]
# float32: the table is computed in float64 and rounded, so it is off by at most half an ulp.
ATOL = {torch.float32: 1e-7, torch.float64: 1e-12}

# (num_positions, d_model, base): d_model = 2 (a single sin/cos pair), the default base, a
# non-default one (float, int, and one below 1 where the "frequencies" grow instead).
CASES = [
    (1, 2, 10000.0),
    (7, 2, 10000.0),
    (50, 4, 10000.0),
    (100, 16, 10000.0),
    (300, 64, 10000.0),
    (64, 10, 100.0),
    (40, 8, 10),
    (30, 8, 2.5),
    (20, 6, 0.5),
]


def reference_math(num_positions: int, d_model: int, base: float) -> np.ndarray:
    """The formula written out entry by entry with the math module."""
    pe = np.empty((num_positions, d_model))
    for pos in range(num_positions):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            pe[pos, 2 * i] = math.sin(angle)
            pe[pos, 2 * i + 1] = math.cos(angle)
    return pe


def reference_numpy(num_positions: int, d_model: int, base: float) -> np.ndarray:
    """The same formula vectorised with numpy (positions × pairs, then interleaved)."""
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angles = pos / np.power(float(base), two_i / d_model)
    return np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(num_positions, d_model)


def rotation(k: int, d_model: int, base: float) -> torch.Tensor:
    """R_k: block-diagonal, block i = [[cos kωᵢ, sin kωᵢ], [−sin kωᵢ, cos kωᵢ]], ωᵢ from math.

    With (sin a, cos a) in columns (2i, 2i + 1): sin(a + kω) = sin a cos kω + cos a sin kω and
    cos(a + kω) = −sin a sin kω + cos a cos kω."""
    r = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        theta = k / base ** (2 * i / d_model)
        c, s = math.cos(theta), math.sin(theta)
        r[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, s], [-s, c]],
                                                            dtype=torch.float64)
    return r


def case_id(case) -> str:
    return "n{}-d{}-base{}".format(*case)


# ================================================================================ the formula
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_formula(case, dtype):
    num_positions, d_model, base = case
    pe = sinusoidal_encoding(num_positions, d_model, base, dtype=dtype)
    assert isinstance(pe, torch.Tensor)
    assert pe.shape == (num_positions, d_model)
    assert pe.dtype == dtype
    expected = torch.from_numpy(reference_math(num_positions, d_model, base))
    err = (pe.double() - expected).abs().max().item()
    assert err <= ATOL[dtype], f"max abs error {err:.3e} > {ATOL[dtype]:g} for {dtype}"
    # The numpy version of the formula agrees too (a check on the reference itself).
    np.testing.assert_allclose(reference_numpy(num_positions, d_model, base), expected.numpy(),
                               rtol=0, atol=1e-13)


def test_default_arguments():
    pe = sinusoidal_encoding(20, 8)
    assert pe.dtype == torch.float32 and pe.shape == (20, 8)
    assert torch.equal(pe, sinusoidal_encoding(20, 8, 10000.0, torch.float32))
    expected = torch.from_numpy(reference_math(20, 8, 10000.0))
    torch.testing.assert_close(pe.double(), expected, rtol=0, atol=1e-7)


def test_even_columns_sin_odd_columns_cos():
    """Column 0 turns at ω₀ = 1: sin(pos) and cos(pos); each pair lies on the unit circle."""
    pe = sinusoidal_encoding(100, 12, dtype=torch.float64)
    pos = torch.arange(100, dtype=torch.float64)
    torch.testing.assert_close(pe[:, 0], torch.sin(pos), rtol=0, atol=1e-15)
    torch.testing.assert_close(pe[:, 1], torch.cos(pos), rtol=0, atol=1e-15)
    radius = pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2
    torch.testing.assert_close(radius, torch.ones(100, 6, dtype=torch.float64), rtol=0,
                               atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d_model", [2, 4, 64])
def test_row_zero_is_zero_one_alternating(dtype, d_model):
    pe = sinusoidal_encoding(3, d_model, dtype=dtype)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * (d_model // 2), dtype=dtype))
    assert not torch.equal(pe[1], pe[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_values_in_minus_one_one(dtype):
    pe = sinusoidal_encoding(10000, 128, dtype=dtype)
    assert torch.isfinite(pe).all()
    assert pe.min() >= -1 and pe.max() <= 1
    # …and the range is used: the fastest column goes all the way round.
    assert pe[:, 0].min() < -0.999 and pe[:, 0].max() > 0.999


# ================================================================================ rotations
@pytest.mark.parametrize("k", [1, 2, 5, 17, 100])
@pytest.mark.parametrize(("d_model", "base"), [(2, 10000.0), (16, 10000.0), (10, 100.0)],
                         ids=str)
def test_shift_by_k_is_a_fixed_rotation(k, d_model, base):
    """PE[p + k] = R_k PE[p] for every p with one R_k (depending on k only)."""
    n = 300
    pe = sinusoidal_encoding(n, d_model, base, dtype=torch.float64)
    r = rotation(k, d_model, base)
    torch.testing.assert_close(r @ r.T, torch.eye(d_model, dtype=torch.float64), rtol=0,
                               atol=1e-14)  # a rotation: orthogonal…
    assert torch.linalg.det(r).item() == pytest.approx(1.0, abs=1e-12)  # …and no reflection
    shifted = pe[:-k] @ r.T  # row p: R_k PE[p]
    err = (shifted - pe[k:]).abs().max().item()
    assert err < 1e-12, f"max |R_k PE[p] − PE[p+k]| = {err:.3e} (k = {k})"
    # Rotations compose: shifting by k then by 3 is shifting by k + 3.
    torch.testing.assert_close(rotation(3, d_model, base) @ r, rotation(k + 3, d_model, base),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_rotation_recovered_from_the_table_alone(k):
    """Solve PE[p + k] = M PE[p] for M by least squares over all p: the fit is exact and M is
    R_k (block-diagonal), so a single linear map does the shift for every position."""
    d_model, base = 8, 10.0  # low base: every column turns enough to make the fit well posed
    pe = sinusoidal_encoding(120, d_model, base, dtype=torch.float64)
    solution = torch.linalg.lstsq(pe[:-k], pe[k:]).solution  # pe[:-k] @ solution ≈ pe[k:]
    m = solution.T
    residual = (pe[:-k] @ m.T - pe[k:]).abs().max().item()
    assert residual < 1e-10, f"no single linear map does the shift: residual {residual:.3e}"
    torch.testing.assert_close(m, rotation(k, d_model, base), rtol=0, atol=1e-9)
    off_block = m.clone()
    for i in range(d_model // 2):
        off_block[2 * i:2 * i + 2, 2 * i:2 * i + 2] = 0
    assert off_block.abs().max() < 1e-9


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 4, 50])
def test_distance_depends_only_on_offset(dtype, k):
    """‖PE[p] − PE[p + k]‖ is the same for every p: √(Σᵢ 4 sin²(kωᵢ / 2))."""
    d_model = 32
    pe = sinusoidal_encoding(400, d_model, dtype=dtype).double()
    dist = (pe[:-k] - pe[k:]).norm(dim=1)
    expected = math.sqrt(sum(4 * math.sin(k / 10000 ** (2 * i / d_model) / 2) ** 2
                             for i in range(d_model // 2)))
    spread = (dist - expected).abs().max().item()
    assert spread < (1e-6 if dtype == torch.float32 else 1e-12), (
        f"‖PE[p] − PE[p+{k}]‖ varies with p by up to {spread:.3e} around {expected:.6f}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_rows_distinct(dtype):
    pe = sinusoidal_encoding(512, 64, dtype=dtype).double()
    dist = torch.cdist(pe, pe)
    dist.fill_diagonal_(float("inf"))
    closest = dist.min().item()
    # (The closest pair is ≈ 1.47 apart; any duplicate row would give 0.)
    assert closest > 1.0, f"two positions are only {closest:.3e} apart"


# ========================================================================== any length
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 16, 17, 100, 1000])
def test_prefix_consistent(dtype, n):
    """The first n rows are the same whatever num_positions: a table made for a longer
    sequence starts with the short one."""
    longer = sinusoidal_encoding(2049, 16, dtype=dtype)
    torch.testing.assert_close(sinusoidal_encoding(n, 16, dtype=dtype), longer[:n], rtol=0,
                               atol=1e-15 if dtype == torch.float64 else 1e-7)


def test_far_positions_follow_the_formula():
    """Works past any length seen in training: position 19 999 still obeys the formula (the
    angle there is ~2·10⁴ rad, so the float64 rounding of the angle alone is ~10⁻¹²)."""
    pe = sinusoidal_encoding(20000, 16, dtype=torch.float64)
    for pos in (999, 5000, 12345, 19999):
        expected = []
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            expected += [math.sin(angle), math.cos(angle)]
        torch.testing.assert_close(pe[pos], torch.tensor(expected, dtype=torch.float64),
                                   rtol=0, atol=1e-10)


# ============================================================================= frequencies
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d_model", "base"),
                         [(2, 10000.0), (8, 10000.0), (64, 10000.0), (10, 100.0), (6, 0.5),
                          (12, 10)], ids=str)
def test_frequencies_values(dtype, d_model, base):
    omega = frequencies(d_model, base, dtype=dtype)
    assert omega.shape == (d_model // 2,) and omega.dtype == dtype
    expected = torch.tensor([base ** (-2 * i / d_model) for i in range(d_model // 2)],
                            dtype=torch.float64)
    torch.testing.assert_close(omega.double(), expected,
                               rtol=1e-7 if dtype == torch.float32 else 1e-14, atol=0)
    assert omega[0].item() == 1.0  # ω₀ = base⁰
    if d_model > 2:  # a geometric sequence with ratio base^(−2 / d_model)
        ratio = omega.double()[1:] / omega.double()[:-1]
        torch.testing.assert_close(ratio, torch.full_like(ratio, base ** (-2 / d_model)),
                                   rtol=1e-6 if dtype == torch.float32 else 1e-13, atol=0)
        if base > 1:
            assert torch.all(omega[1:] < omega[:-1])  # slower and slower


def test_frequencies_default_and_consistent_with_the_table():
    omega = frequencies(16)
    assert omega.dtype == torch.float32
    assert torch.equal(omega, frequencies(16, 10000.0, torch.float32))
    assert omega[-1].item() == pytest.approx(10000 ** (-14 / 16), rel=1e-6)
    omega64 = frequencies(16, dtype=torch.float64)
    angles = torch.arange(50, dtype=torch.float64)[:, None] * omega64
    pe = sinusoidal_encoding(50, 16, dtype=torch.float64)
    torch.testing.assert_close(pe[:, 0::2], torch.sin(angles), rtol=0, atol=1e-15)
    torch.testing.assert_close(pe[:, 1::2], torch.cos(angles), rtol=0, atol=1e-15)


# =============================================================================== bad input
@pytest.mark.parametrize("d_model", [1, 3, 7, 63])
def test_odd_d_model_rejected(d_model):
    with pytest.raises(ValueError, match=rf"d_model must be even.*\b{d_model}\b"):
        sinusoidal_encoding(10, d_model)
    with pytest.raises(ValueError, match=rf"d_model must be even.*\b{d_model}\b"):
        frequencies(d_model)


@pytest.mark.parametrize("bad", [0, -1, -8, True, False, 4.0, "4", None], ids=repr)
def test_bad_num_positions_rejected(bad):
    with pytest.raises(ValueError, match="num_positions must be a positive int"):
        sinusoidal_encoding(bad, 8)


@pytest.mark.parametrize("bad", [0, -2, True, False, 8.0, "8", None], ids=repr)
def test_bad_d_model_rejected(bad):
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        sinusoidal_encoding(10, bad)
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        frequencies(bad)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, -10000, float("nan"), float("-inf")], ids=repr)
def test_bad_base_rejected(bad):
    with pytest.raises(ValueError, match="base must be positive"):
        sinusoidal_encoding(10, 8, base=bad)
    with pytest.raises(ValueError, match="base must be positive"):
        frequencies(8, base=bad)
