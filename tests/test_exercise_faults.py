"""course_utils.learner.exercises: check_exercise never raises, whatever the learner's code does,
and its message names the actual problem (an odd dtype, shape or device, NaN or inf, an odd
exception, a function that never returns)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from course_utils.learner.exercises import EXERCISES, check_exercise

RELEASE = threading.Event()  # the "never returns" functions wait on it; set when we are done


@pytest.fixture(scope="module", autouse=True)
def _release_stuck_functions():
    yield
    RELEASE.set()


def _never_returns(*args):
    RELEASE.wait(5)  # long past the checker's limit; returns (None) rather than hang forever


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


# ============================================================ the pathological battery
def _from_answer(change):
    """A function that computes the right answer, then spoils it with ``change``."""
    def make(name):
        def function(*args):
            return change(EXERCISES[name].reference(*args))
        return function
    return make


def _with_entry(value):
    def change(out):
        out = (out if out.is_floating_point() else out.float()).clone()
        out[(0,) * out.dim()] = value
        return out
    return change


def _raises(exc):
    def make(name):
        def function(*args):
            raise exc
        return function
    return make


BATTERY = {  # a bad function, the words its message must have (and must not have)
    "complex": (_from_answer(lambda out: out.to(torch.complex64)), ["torch.complex64"], []),
    "0-d tensor": (_from_answer(lambda out: out.flatten()[0]), ["shape ()"], []),
    "meta tensor": (_from_answer(lambda out: torch.empty(out.shape, device="meta")),
                    ["returned a tensor on device meta; return a real tensor"], []),
    "NaN": (_from_answer(_with_entry(float("nan"))), ["NaN in 1 of"],
            ["maximum", "wrong way round"]),
    "all NaN": (_from_answer(lambda out: torch.full(out.shape, float("nan"))), ["NaN"],
                ["maximum", "wrong way round"]),
    "inf": (_from_answer(_with_entry(float("inf"))), ["inf in 1 of"], ["maximum"]),
    "__str__ raises": (_raises(_UnprintableError()), ["raised _UnprintableError"], []),
    "empty message": (_raises(ValueError()), ["your function raised ValueError."],
                      ["ValueError: ."]),
    "list": (_from_answer(lambda out: out.tolist()), ["expected a torch.Tensor, got list"], []),
    "numpy": (_from_answer(lambda out: out.numpy()), ["expected a torch.Tensor, got ndarray"],
              []),
    "never returns": (lambda name: _never_returns,
                      ["did not return within 0.3 s", "a loop that never ends"], []),
}


def _answer_is_integer(name: str) -> bool:
    args = next(iter(EXERCISES[name].cases()))
    dtype = EXERCISES[name].reference(*args).dtype
    return not dtype.is_floating_point and dtype != torch.bool


@pytest.mark.parametrize("pathology", BATTERY)
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_checker_names_what_is_wrong_with_a_pathological_function(name, pathology):
    make, words, not_words = BATTERY[pathology]
    if _answer_is_integer(name) and pathology in ("NaN", "all NaN", "inf"):
        words, not_words = ["dtype torch.float32"], []  # token ids: a float is wrong already
    # a short limit only where it is the point: a first call into torch can take a while
    result = check_exercise(name, make(name), timeout=0.3 if pathology == "never returns" else None)
    assert result.status == "wrong", result
    assert "case 1 of " in result.message, result.message
    for word in words:
        assert word in result.message, (word, result.message)
    for word in not_words:
        assert word not in result.message, (word, result.message)


# ============================================================ 1. the dtype
@pytest.mark.parametrize("name", ["scores", "attend_to_regions", "layer_norm", "sharpen"])
def test_a_complex_answer_is_wrong_and_named(name):
    function = _from_answer(lambda out: out.to(torch.complex128))(name)
    result = check_exercise(name, function)
    assert result.status == "wrong", result
    assert "dtype torch.complex128" in result.message and "real" in result.message, result


@pytest.mark.parametrize("name, function, dtype", [
    ("scores", lambda q, k: (q @ k.mT).round().long(), "torch.int64"),
    ("attention_weights", lambda s: s > 0, "torch.bool"),
    ("positional_encoding", lambda n, d: torch.zeros(n, d, dtype=torch.int32), "torch.int32"),
])
def test_an_integer_or_bool_answer_where_numbers_are_expected_is_named(name, function, dtype):
    result = check_exercise(name, function)
    assert result.status == "wrong", result
    assert f"dtype {dtype}" in result.message and "floating-point" in result.message, result


def test_token_ids_must_be_integers():
    reference = EXERCISES["shift_right"].reference
    result = check_exercise("shift_right", lambda t, b: reference(t, b).float())
    assert result.status == "wrong", result
    assert "dtype torch.float32" in result.message and "integer" in result.message, result
    assert check_exercise("shift_right", lambda t, b: reference(t, b).int()).passed


def _mask_exercise(monkeypatch):
    """A checker whose answer is a boolean mask (none of the course's exercises is one now;
    the engine still compares masks exactly and leaves their dtype to the diagnoses)."""
    def named_dtype(args, got, expected):
        if got.dtype != torch.bool:
            return f"the mask has dtype {got.dtype}: make it boolean"
        return None

    monkeypatch.setitem(EXERCISES, "lower_mask", dataclasses.replace(
        EXERCISES["scores"], name="lower_mask", signature="lower_mask(n) -> bool (n, n)",
        reference=lambda n: torch.ones(n, n, dtype=torch.bool).tril(),
        cases=lambda: iter([(3,), (1,)]), diagnoses=[named_dtype], nan_hints=[],
        batched_case=False))


def test_a_float_mask_keeps_its_own_message(monkeypatch):
    _mask_exercise(monkeypatch)
    result = check_exercise("lower_mask", lambda n: torch.ones(n, n).tril())
    assert "the mask has dtype torch.float32: make it boolean" in result.message
    result = check_exercise("lower_mask", lambda n: torch.ones(n, n, dtype=torch.bool).triu())
    assert "the mask differs" in result.message, result
    assert check_exercise("lower_mask", lambda n: torch.ones(n, n, dtype=torch.bool).tril()).passed


# ============================================================ 2. the shape before the diagnoses
def test_shift_right_returning_a_0d_tensor_gets_a_shape_message():
    result = check_exercise("shift_right", lambda t, b: t[0, 0])
    assert result.status == "wrong", result
    assert "the output has shape () but should have shape (1, 4)" in result.message, result


def test_shift_right_returning_one_row_gets_a_shape_message():
    result = check_exercise("shift_right", lambda t, b: t[0])
    assert "the output has shape (4,) but should have shape (1, 4)" in result.message, result


# ============================================================ 3. odd exceptions and devices
def test_an_exception_whose_str_raises_is_reported():
    def scores(query, keys):
        raise _UnprintableError

    result = check_exercise("scores", scores)
    assert result.status == "wrong", result
    assert result.message.endswith("your function raised _UnprintableError."), result


def test_a_meta_tensor_is_wrong():
    result = check_exercise("scores", lambda q, k: torch.empty(q.shape[0], k.shape[0],
                                                               device="meta"))
    assert result.status == "wrong", result
    assert "returned a tensor on device meta; return a real tensor" in result.message, result


def test_a_sparse_tensor_is_wrong_and_named():
    result = check_exercise("scores", lambda q, k: (q @ k.mT).to_sparse())
    assert result.status == "wrong", result
    assert "sparse" in result.message, result


class _Hostile(torch.Tensor):
    """A tensor whose every operation fails."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("not today")


def test_a_tensor_that_breaks_every_check_is_still_answered():
    result = check_exercise("scores", lambda q, k: (q @ k.mT).as_subclass(_Hostile))
    assert result.status == "wrong", result
    assert "your output could not be checked (RuntimeError: not today)" in result.message


# ============================================================ 4. NaN is named as NaN
def _nan_at(out, index):
    out = out.clone()
    out[index] = float("nan")
    return out


@pytest.mark.parametrize("name", ["positional_encoding", "offset_matrix", "layer_norm",
                                  "add_and_norm", "self_attention"])
def test_a_nan_gets_the_nan_message_not_the_softmax_hint(name):
    function = _from_answer(lambda out: _nan_at(out, (0, 1)))(name)
    result = check_exercise(name, function)
    assert result.status == "wrong", result
    assert "your output has NaN in 1 of " in result.message, result
    assert "(first at index (0, 1))" in result.message, result
    assert "division by zero" in result.message, result
    assert "maximum" not in result.message and "exp()" not in result.message, result


def test_the_nan_message_counts_and_points():
    result = check_exercise("layer_norm", lambda x: (x - x.mean(-1, keepdim=True)) / 0 * 0)
    assert str(result).startswith(
        "✗ layer_norm: case 1 of 4 (inputs: shape (3, 4)): your output has NaN in 12 of 12 "
        "entries (first at index (0, 0)); look for"), result


def test_inf_is_named_as_inf():
    result = check_exercise("layer_norm", lambda x: (x - x.mean(-1, keepdim=True)) / 0)
    assert "your output has inf in" in result.message and "maximum" not in result.message


@pytest.mark.parametrize("name", ["padded_attention_weights", "memory_hop"])
def test_an_all_nan_output_is_not_an_inverted_mask(name):
    result = check_exercise(name, _from_answer(lambda out: torch.full_like(out, float("nan")))(
        name))
    assert result.status == "wrong", result
    assert "wrong way round" not in result.message, result
    assert "your output has NaN in" in result.message, result


def test_nan_in_a_padded_row_is_not_an_inverted_mask():
    # NaN on the row with padding (row 1 of case 1) where an inverted mask gives NaN on row 0
    result = check_exercise("padded_attention_weights",
                            _from_answer(lambda out: _nan_at(out, 1))("padded_attention_weights"))
    assert "wrong way round" not in result.message and "NaN in 4 of 8" in result.message


def test_the_overflow_hint_only_where_a_softmax_overflows():
    # NaN on the small scores of case 1: no exp() overflows there
    result = check_exercise("attention_weights", lambda s: torch.softmax(s, -1) / 0 * 0)
    assert "maximum" not in result.message and "NaN in 6 of 6" in result.message, result


def test_sharpen_underflow_hint_only_where_the_powers_underflow():
    result = check_exercise("sharpen", lambda w, g: torch.full_like(w, float("nan")))
    assert "log space" not in result.message and "NaN in 10 of 10" in result.message, result


def test_merge_partials_nan_hints_only_where_they_apply():
    # NaN in case 1, where nothing is masked and no factor overflows
    result = check_exercise("merge_partials", lambda m1, l1, a1, m2, l2, a2: a1 / 0 * 0)
    assert "NaN in 24 of 24" in result.message, result
    assert "masked" not in result.message and "every factor" not in result.message, result


def test_online_logsumexp_nan_in_one_entry_is_named_as_nan():
    result = check_exercise("online_logsumexp",
                            _from_answer(lambda out: _nan_at(out, (0, 0)))("online_logsumexp"))
    assert "NaN in 1 of 2" in result.message and "rescale" not in result.message, result


# ============================================================ 5. an empty exception message
def test_an_exception_without_a_message_shows_its_type_alone():
    def scores(query, keys):
        raise ValueError

    result = check_exercise("scores", scores)
    assert result.message.endswith("(inputs: shape (2, 4), shape (3, 4)): your function raised "
                                   "ValueError."), result


def test_an_exception_message_is_kept():
    def scores(query, keys):
        raise ValueError("bad keys.")

    assert check_exercise("scores", scores).message.endswith("raised ValueError: bad keys.")


# ============================================================ 6. a time limit
def test_a_function_that_never_returns_is_stopped_waiting_for():
    result = check_exercise("scores", _never_returns, timeout=0.3)
    assert result.status == "wrong", result
    assert result.message == ("case 1 of 5 (inputs: shape (2, 4), shape (3, 4)): your function "
                              "did not return within 0.3 s; look for a loop that never ends "
                              "(it goes on running in the background until the kernel is "
                              "restarted).")


def test_the_time_limit_counts_from_the_case_that_hangs():
    calls = []

    def scores(query, keys):
        calls.append(1)
        if len(calls) == 2:
            RELEASE.wait(5)
        return query @ keys.mT

    result = check_exercise("scores", scores, timeout=1)
    assert "case 2 of 5" in result.message and "did not return within 1 s" in result.message


def test_the_time_limit_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_EXERCISE_TIMEOUT", "0.3")
    result = check_exercise("scores", _never_returns)
    assert "did not return within 0.3 s" in result.message, result


@pytest.mark.parametrize("text", ["soon", "0", "-1", "nan"])
def test_a_bad_time_limit_in_the_environment_is_reported_and_ignored(monkeypatch, text):
    monkeypatch.setenv("COURSE_EXERCISE_TIMEOUT", text)
    with pytest.warns(UserWarning, match="COURSE_EXERCISE_TIMEOUT"):
        assert check_exercise("scores", lambda q, k: q @ k.mT).passed


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_a_time_limit_must_be_positive(timeout):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        check_exercise("scores", lambda q, k: q @ k.mT, timeout=timeout)


def test_a_slow_function_within_the_limit_passes():
    def scores(query, keys):
        RELEASE.wait(0.05)
        return query @ keys.mT

    assert check_exercise("scores", scores, timeout=5).passed


@pytest.mark.parametrize("grad", [True, False])
def test_the_function_runs_with_the_callers_grad_mode(grad):
    seen = []

    def scores(query, keys):
        seen.append(torch.is_grad_enabled())
        return query @ keys.mT

    with torch.set_grad_enabled(grad):
        assert check_exercise("scores", scores).passed
    assert seen and set(seen) == {grad}


def test_the_function_shares_the_random_state_and_the_determinism_flag(_restore_determinism):
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    wanted = torch.rand(3)
    seen = []

    def scores(query, keys):
        seen.append((torch.rand(3), torch.are_deterministic_algorithms_enabled()))
        return query @ keys.mT

    torch.manual_seed(0)
    assert check_exercise("scores", scores).passed
    assert torch.equal(seen[0][0], wanted) and seen[0][1]
