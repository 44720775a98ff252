"""Tests of course_utils' top level: set_seed and device."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import course_utils
from course_utils import device, set_seed


@pytest.fixture(autouse=True)
def _deterministic_algorithms_off(_restore_determinism):
    """Each test starts with the flag set_seed switches on off (conftest.py's
    _restore_determinism gives the other tests the state they had)."""
    torch.use_deterministic_algorithms(False)


def _draws() -> tuple[list[float], np.ndarray, torch.Tensor]:
    return [random.random() for _ in range(3)], np.random.rand(3), torch.rand(3)


def test_public_api():
    assert set(course_utils.__all__) >= {"set_seed", "device"}


@pytest.mark.parametrize("seed", [0, 1, 12345, np.int64(7)])
def test_set_seed_makes_draws_reproducible(seed):
    assert set_seed(seed) == int(seed)
    py1, np1, t1 = _draws()
    set_seed(seed)
    py2, np2, t2 = _draws()
    assert py1 == py2
    np.testing.assert_array_equal(np1, np2)
    torch.testing.assert_close(t1, t2, rtol=0, atol=0)


def test_set_seed_returns_a_plain_int():
    result = set_seed(np.int32(3))
    assert type(result) is int and result == 3


def test_different_seeds_give_different_draws():
    set_seed(0)
    py0, np0, t0 = _draws()
    set_seed(1)
    py1, np1, t1 = _draws()
    assert py0 != py1
    assert not np.array_equal(np0, np1)
    assert not torch.equal(t0, t1)


def test_set_seed_switches_deterministic_algorithms_on():
    assert not torch.are_deterministic_algorithms_enabled()
    set_seed(0)
    assert torch.are_deterministic_algorithms_enabled()


def test_set_seed_default_is_zero():
    assert set_seed() == 0
    first = torch.rand(4)
    set_seed(0)
    torch.testing.assert_close(first, torch.rand(4), rtol=0, atol=0)


@pytest.mark.parametrize("bad", [1.0, "0", None, True, [0]])
def test_set_seed_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        set_seed(bad)


@pytest.mark.parametrize("bad", [-1, -100, 2**32])
def test_set_seed_rejects_out_of_range_seeds(bad):
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*32\), got {bad}"):
        set_seed(bad)


def test_device_is_a_torch_device():
    dev = device()
    assert isinstance(dev, torch.device)
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.zeros(1, device=dev).device.type == dev.type
