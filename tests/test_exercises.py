"""course_utils.learner.exercises: reference answers pass, typical mistakes get their message."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils.learner import exercises as exercises_module
from course_utils.learner.exercises import (
    EXERCISE_CHAPTERS,
    EXERCISES,
    ExerciseResult,
    check_exercise,
)

NAMES = ["scores", "attention_weights", "context_vector"]


# ======================================================================= reference solutions
# Written from scratch in plain torch, independent of course_utils.attention.
def ref_scores(query, keys):
    return query @ keys.transpose(-2, -1)


def ref_attention_weights(scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)


def ref_context_vector(weights, values):
    return weights @ values


REFERENCES = {"scores": ref_scores, "attention_weights": ref_attention_weights,
              "context_vector": ref_context_vector}


def assert_wrong(result: ExerciseResult, *fragments: str, case: int = 1) -> None:
    assert result.status == "wrong", result
    assert not result.passed
    assert f"case {case} of " in result.message, result.message
    for fragment in fragments:
        assert fragment in result.message, (fragment, result.message)


def test_exercise_names():
    assert set(NAMES) <= set(EXERCISES)
    for name, exercise in EXERCISES.items():
        assert exercise.name == name and exercise.signature.startswith(name)


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_is_correct(name):
    result = check_exercise(name, REFERENCES[name])
    assert result.status == "correct" and result.passed
    n_cases = len(list(EXERCISES[name].cases()))
    assert n_cases >= 3
    assert result.message == f"correct on all {n_cases} cases."
    assert repr(result).startswith("✓ " + name)


@pytest.mark.parametrize("name", NAMES)
def test_references_agree_with_the_module_on_every_case(name):
    # Guards the generated cases themselves: finite, and the module's reference matches ours.
    for args in EXERCISES[name].cases():
        expected = REFERENCES[name](*args)
        assert torch.isfinite(expected).all()
        torch.testing.assert_close(EXERCISES[name].reference(*args), expected)


def test_a_float64_answer_is_accepted():
    result = check_exercise("scores", lambda q, k: q.double() @ k.double().transpose(-2, -1))
    assert result.passed, result


def test_an_answer_that_requires_grad_is_accepted():
    def scores(query, keys):
        return query.requires_grad_(True) @ keys.transpose(-2, -1)

    assert check_exercise("scores", scores).passed


# ===================================================================================== scores
def test_scores_transposed():
    result = check_exercise("scores", lambda q, k: k @ q.mT)
    # case 1 is n_q=2, n_k=3: the transposed output is (3, 2)
    assert_wrong(result, "transposed", "(3, 2)", "(2, 3)", "case 1 of 5")


def test_scores_scaled_by_sqrt_d():
    result = check_exercise("scores", lambda q, k: q @ k.mT / q.shape[-1] ** 0.5)
    assert_wrong(result, "√d")
    assert "off by" not in result.message


def test_scores_wrong_values_are_off_by():
    result = check_exercise("scores", lambda q, k: q @ k.mT + 0.5)
    assert_wrong(result, "off by up to 0.5", "expected", "got")
    assert "√d" not in result.message and "transposed" not in result.message


def test_scores_negated_is_off_by():
    assert_wrong(check_exercise("scores", lambda q, k: -(q @ k.mT)), "off by")


def test_scores_elementwise_product_raises_and_is_reported():
    # q * k does not broadcast for (2, 4) and (3, 4): the learner's error is reported.
    result = check_exercise("scores", lambda q, k: q * k)
    assert_wrong(result, "your function raised RuntimeError")


def test_scores_squeezed_output_fails_on_the_single_query_case():
    # Right on case 1, but squeeze() drops the n_q = 1 axis of case 2.
    result = check_exercise("scores", lambda q, k: (q @ k.mT).squeeze())
    assert_wrong(result, "shape (5,)", "(1, 5)", case=2)
    assert "case 2 of 5" in result.message


def test_scores_message_describes_the_inputs():
    result = check_exercise("scores", lambda q, k: q @ k.mT + 1)
    assert "(inputs: shape (2, 4), shape (3, 4))" in result.message


# ========================================================================== attention_weights
def test_weights_softmax_over_the_wrong_axis():
    result = check_exercise("attention_weights", lambda s: torch.softmax(s, dim=0))
    assert_wrong(result, "instead of along each row", "dim=-1")


def test_weights_without_max_subtraction_overflow():
    def weights(scores):
        e = scores.exp()
        return e / e.sum(dim=-1, keepdim=True)

    # exact on the three small cases, NaN on the large-score case 4
    result = check_exercise("attention_weights", weights)
    assert_wrong(result, "NaN or inf", "subtract", case=4)
    assert "case 4 of 5" in result.message


def test_weights_subtracting_the_global_max_underflows():
    def weights(scores):
        e = (scores - scores.max()).exp()  # one max for the whole matrix, not per row
        return e / e.sum(dim=-1, keepdim=True)

    assert_wrong(check_exercise("attention_weights", weights), "NaN or inf", case=4)


def test_weights_not_normalised():
    result = check_exercise("attention_weights", lambda s: s.exp())
    assert_wrong(result, "do not sum to 1 along the key axis", "row sums are")
    assert "instead of along each row" not in result.message


def test_weights_negative():
    result = check_exercise("attention_weights",
                            lambda s: s - s.mean(dim=-1, keepdim=True))
    assert_wrong(result, "negative")


def test_weights_right_shape_wrong_values():
    # non-negative and rows sum to 1, but not a softmax: only the value check catches it
    result = check_exercise("attention_weights",
                            lambda s: torch.full_like(s, 1.0 / s.shape[-1]))
    assert_wrong(result, "off by")


def test_weights_transposed_output():
    result = check_exercise("attention_weights", lambda s: torch.softmax(s, dim=-1).T)
    assert_wrong(result, "transposed", "(3, 2)", "(2, 3)")


# ============================================================================= context_vector
def test_context_plain_sum_of_values():
    result = check_exercise("context_vector", lambda w, v: torch.ones_like(w) @ v)
    assert_wrong(result, "plain sum")


def test_context_transposed_weights_raise():
    result = check_exercise("context_vector", lambda w, v: w.T @ v)
    assert_wrong(result, "your function raised RuntimeError")


def test_context_wrong_shape():
    result = check_exercise("context_vector", lambda w, v: v.T @ w.T)
    assert_wrong(result, "shape (4, 2)", "(2, 4)", "transposed")


def test_context_summed_over_queries_has_the_wrong_shape():
    result = check_exercise("context_vector", lambda w, v: (w @ v).sum(dim=0))
    assert_wrong(result, "shape (4,)", "(2, 4)")
    assert "transposed" not in result.message


def test_context_elementwise_instead_of_matmul():
    # weights times the summed features: (n_q, n_k) where (n_q, d_v) is expected
    result = check_exercise("context_vector", lambda w, v: w * v.sum(dim=-1))
    assert_wrong(result, "shape")


# =================================================================== unfinished and odd answers
def _raises_not_implemented(*args):
    raise NotImplementedError("write me")


def _returns_none(*args):
    return None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("function, words", [(_raises_not_implemented, "NotImplementedError"),
                                             (_returns_none, "returns None")],
                         ids=["NotImplementedError", "None"])
def test_unfinished_function_is_not_yet(name, function, words):
    result = check_exercise(name, function)
    assert result.status == "not yet" and not result.passed
    assert words in result.message
    assert repr(result).startswith("… " + name)
    assert str(result) == repr(result)


def test_a_body_with_only_pass_is_not_yet():
    def scores(query, keys):
        pass

    assert check_exercise("scores", scores).status == "not yet"


@pytest.mark.parametrize("convert, type_name", [(lambda t: t.tolist(), "list"),
                                                (lambda t: t.numpy(), "ndarray"),
                                                (lambda t: float(t.sum()), "float")],
                         ids=["list", "numpy", "float"])
def test_non_tensor_answer(convert, type_name):
    result = check_exercise("scores", lambda q, k: convert(q @ k.mT))
    assert_wrong(result, "expected a torch.Tensor", f"got {type_name}")


def test_numpy_answer_for_context_vector():
    result = check_exercise("context_vector", lambda w, v: np.asarray(w) @ np.asarray(v))
    assert_wrong(result, "expected a torch.Tensor")


def test_wrong_number_of_arguments_is_reported_not_raised():
    result = check_exercise("context_vector", lambda weights: weights)
    assert_wrong(result, "your function raised TypeError")


def test_unknown_exercise():
    with pytest.raises(ValueError) as info:
        check_exercise("softmax", ref_attention_weights)
    message = str(info.value)
    assert "'softmax'" in message
    for name in NAMES:
        assert name in message


@pytest.mark.parametrize("not_callable", [None, 3, "ref_scores", torch.zeros(2, 3)],
                         ids=["None", "int", "str", "tensor"])
def test_non_callable(not_callable):
    with pytest.raises(TypeError, match="pass the function itself"):
        check_exercise("scores", not_callable)


def test_unknown_name_is_checked_before_callability():
    with pytest.raises(ValueError):
        check_exercise("nope", None)


# ================================================================= the learner cannot cheat
@pytest.fixture
def fixed_weight_cases(monkeypatch):
    """attention_weights with two known cases, so we can see whether they get modified."""
    cases = [(torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]),),
             (torch.tensor([[4.0, -2.0], [0.0, 0.0], [1.0, 1.5]]),)]
    snapshot = [tuple(a.clone() for a in args) for args in cases]
    patched = dataclasses.replace(EXERCISES["attention_weights"], cases=lambda: iter(cases))
    monkeypatch.setitem(exercises_module.EXERCISES, "attention_weights", patched)
    return cases, snapshot


def test_in_place_shift_does_not_touch_the_cases(fixed_weight_cases):
    cases, snapshot = fixed_weight_cases

    def weights(scores):
        scores.sub_(1)  # in place; softmax is shift-invariant, so the answer is still right
        return torch.softmax(scores, dim=-1)

    result = check_exercise("attention_weights", weights)
    assert result.passed, result
    for args, before in zip(cases, snapshot, strict=True):
        assert torch.equal(args[0], before[0])


def test_reference_is_computed_on_the_unmodified_inputs(fixed_weight_cases):
    cases, snapshot = fixed_weight_cases

    def weights(scores):
        answer = ref_attention_weights(scores)
        scores.zero_()  # if this reached the reference, it would expect uniform weights
        return answer

    assert check_exercise("attention_weights", weights).passed
    assert all(torch.equal(a[0], b[0]) for a, b in zip(cases, snapshot, strict=True))


def test_in_place_change_that_alters_the_answer_is_wrong(fixed_weight_cases):
    cases, snapshot = fixed_weight_cases

    def weights(scores):
        scores.mul_(2)
        return torch.softmax(scores, dim=-1)

    assert_wrong(check_exercise("attention_weights", weights), "off by", "case 1 of 2")
    assert all(torch.equal(a[0], b[0]) for a, b in zip(cases, snapshot, strict=True))


def test_returning_the_modified_input_of_scores_is_checked_against_the_original():
    def scores(query, keys):
        answer = query @ keys.transpose(-2, -1)
        query.zero_()
        keys.fill_(7.0)
        return answer

    assert check_exercise("scores", scores).passed


def test_each_call_gets_fresh_copies():
    seen = []

    def context(weights, values):
        seen.append((weights, values))
        weights.fill_(0.0)  # corrupt our copy; the next check must not see it
        return ref_context_vector(weights, values)

    first = check_exercise("context_vector", context)
    assert_wrong(first, "off by")
    assert len(seen) == 1  # stopped at the first failing case
    assert check_exercise("context_vector", ref_context_vector).passed


# ================================================================================== the result
@pytest.mark.parametrize("status, mark", [("correct", "✓"), ("wrong", "✗"), ("not yet", "…")])
def test_result_repr_mark(status, mark):
    result = ExerciseResult("scores", status, "some message")
    assert repr(result) == f"{mark} scores: some message"
    assert str(result) == repr(result)
    assert result.passed is (status == "correct")


def test_wrong_result_repr_starts_with_cross():
    result = check_exercise("scores", lambda q, k: k @ q.mT)
    assert repr(result).startswith("✗ scores: case 1 of 5")


def test_result_is_frozen():
    result = check_exercise("scores", ref_scores)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "wrong"


# --------------------------------------------------------------------------- more mistakes
@pytest.mark.parametrize("name, mistake, fragments", [
    ("scores", lambda q, k: torch.softmax(q @ k.mT, dim=-1), ["already attention weights"]),
    ("scores", lambda q, k: q @ k.mT / q.shape[-1], ["divided by d;"]),
    ("scores", lambda q, k: q @ k, ["Hint:", "query @ keys.transpose(-2, -1)"]),
    ("scores", lambda q, k: (q * k).sum(-1), ["Hint:", "query @ keys.transpose(-2, -1)"]),
    ("scores", lambda q, k: q @ k.T if q.dim() == 2 else q @ k.permute(2, 1, 0),
     ["case 5 of 5", "batch", ".transpose(-2, -1)"]),
    ("attention_weights",
     lambda s: torch.nn.functional.one_hot(s.argmax(-1), s.shape[-1]).float(), ["hard attention"]),
    ("attention_weights", lambda s: torch.softmax(-s, dim=-1), ["softmax(-scores)"]),
    ("attention_weights", lambda s: s - s.max(-1), ["Hint:", ".values"]),
    ("attention_weights", lambda s: torch.exp(s) / torch.exp(s).sum(-1), ["Hint:", "keepdim=True"]),
    ("attention_weights",
     lambda s: torch.exp(s - s.max()) / torch.exp(s - s.max()).sum(-1, keepdim=True),
     ["case 4 of 5", "each row's own maximum"]),
    ("context_vector",
     lambda w, v: v.mean(-2, keepdim=True).expand(*w.shape[:-1], v.shape[-1]), ["plain mean"]),
    ("context_vector", lambda w, v: (w @ v) / w.shape[-1], ["divided by n_k"]),
    ("context_vector", lambda w, v: v @ w, ["Hint:", "no transpose is needed"]),
])
def test_typical_mistakes_get_a_specific_message(name, mistake, fragments):
    result = check_exercise(name, mistake)
    assert result.status == "wrong", result
    for fragment in fragments:
        assert fragment in result.message, (fragment, result.message)


def test_values_off_message_rounds_the_numbers():
    result = check_exercise("context_vector", lambda w, v: w @ v + 0.1234567)
    assert "off by" in result.message
    numbers = re.findall(r"-?\d+\.\d+", result.message.split("expected", 1)[1])
    assert numbers and all(len(n.split(".")[1]) <= 3 for n in numbers), result.message


# --------------------------------------------------------------------------- chapter 02
def ref_padded_attention_weights(query, states, mask):
    scores = (states @ query.unsqueeze(-1)).squeeze(-1) / query.shape[-1] ** 0.5
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def ref_batch_context(weights, states):
    return (weights.unsqueeze(-1) * states).sum(dim=1)


@pytest.mark.parametrize("name, reference", [
    ("padded_attention_weights", ref_padded_attention_weights),
    ("batch_context", ref_batch_context),
])
def test_chapter_02_references_are_accepted(name, reference):
    assert check_exercise(name, reference).passed


def test_padded_weights_are_zero_on_padding_in_every_case():
    for query, states, mask in EXERCISES["padded_attention_weights"].cases():
        weights = EXERCISES["padded_attention_weights"].reference(query, states, mask)
        assert torch.all(weights[~mask] == 0)
        assert torch.allclose(weights.sum(-1), torch.ones(len(weights)))
    assert any((~m).any() for _, _, m in EXERCISES["padded_attention_weights"].cases())


def _dot(q, h):
    return (h @ q.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("mistake, fragment", [
    (lambda q, h, m: torch.softmax((_dot(q, h) / q.shape[-1] ** 0.5).masked_fill(
        m, float("-inf")), -1), "the mask is the wrong way round"),
    (lambda q, h, m: torch.softmax((_dot(q, h) / q.shape[-1] ** 0.5).masked_fill(
        ~m, float("-inf")), 0), "across the batch (dim 0)"),
    (lambda q, h, m: torch.softmax((_dot(q, h) / q.shape[-1]).masked_fill(
        ~m, float("-inf")), -1), "divided by d"),
    (lambda q, h, m: torch.softmax(_dot(q, h) / q.shape[-1] ** 0.5, -1) * m,
     "*after* the softmax"),
    (lambda q, h, m: torch.softmax((h @ q.unsqueeze(-1)).squeeze(-1) / q.shape[-1] ** 0.5, -1),
     "padding positions get weight"),
    (lambda q, h, m: torch.softmax(
        (h @ q.unsqueeze(-1)).squeeze(-1).masked_fill(~m, float("-inf")), -1),
     "not divided by √d"),
    (lambda q, h, m: torch.softmax(
        ((h @ q.unsqueeze(-1)).squeeze(-1) / q.shape[-1] ** 0.5).masked_fill(~m, 0.0), -1),
     "padding positions get weight"),
])
def test_padded_weights_mistakes(mistake, fragment):
    assert_wrong(check_exercise("padded_attention_weights", mistake), fragment)


@pytest.mark.parametrize("mistake, fragment", [
    (lambda w, h: h.sum(dim=1), "plain sum of the states"),
    (lambda w, h: h.mean(dim=1), "plain mean of the states"),
    (lambda w, h: (w.unsqueeze(1) @ h).squeeze(), ".squeeze(1)"),
    (lambda w, h: w @ h, "should have shape"),
    (lambda w, h: (w.T @ h).squeeze(1), "Hint:"),
])
def test_batch_context_mistakes(mistake, fragment):
    result = check_exercise("batch_context", mistake)
    assert result.status == "wrong" and fragment in result.message, result


# --------------------------------------------------------------------------- chapter 03
torch.set_num_threads(1)


def ref_attend_to_regions(z, regions, w_q, w_k, v):
    # Written from scratch: the captioner's additive score, a softmax over the regions, Σ α r.
    e = torch.tanh((z @ w_q)[:, None, :] + regions @ w_k) @ v    # (batch, R)
    alpha = torch.softmax(e, dim=-1)
    return torch.einsum("br,brd->bd", alpha, regions)


def ref_memory_hop(u, keys, values, mask):
    scores = (keys @ u.unsqueeze(-1)).squeeze(-1)  # uᵀmᵢ, (batch, n)
    p = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return u + (p.unsqueeze(-1) * values).sum(dim=1)


def _hop(u, keys, values, mask, *, match_with="keys", sum_of="values", scale=1.0,
         masked=True, residual=True):
    """A memory hop with one mistake switched on (plain torch, as a learner writes it)."""
    k = {"keys": keys, "values": values}
    scores = (k[match_with] @ u.unsqueeze(-1)).squeeze(-1) / scale
    if masked is True:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif masked == "inverted":
        scores = scores.masked_fill(mask, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    o = (p.unsqueeze(-1) * k[sum_of]).sum(dim=1)
    return u + o if residual else o


def _nan_safe_inverted(u, keys, values, mask):
    """An inverted mask with a softmax that turns a row of only -inf into zeros."""
    scores = (keys @ u.unsqueeze(-1)).squeeze(-1).masked_fill(mask, float("-inf"))
    p = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return u + (p.unsqueeze(-1) * values).sum(dim=1)


CHAPTER_03 = {"attend_to_regions": ref_attend_to_regions, "memory_hop": ref_memory_hop}


@pytest.mark.parametrize("name", CHAPTER_03)
def test_chapter_03_references_are_accepted(name):
    result = check_exercise(name, CHAPTER_03[name])
    assert result.passed, result
    assert result.message == f"correct on all {len(list(EXERCISES[name].cases()))} cases."
    assert EXERCISES[name].signature.startswith(name)


@pytest.mark.parametrize("name", CHAPTER_03)
def test_chapter_03_module_references_agree_with_ours(name):
    for args in EXERCISES[name].cases():
        torch.testing.assert_close(EXERCISES[name].reference(*args), CHAPTER_03[name](*args))


def test_chapter_03_cases_cover_batches_and_padding():
    region_cases = list(EXERCISES["attend_to_regions"].cases())
    assert {args[0].shape[0] for args in region_cases} >= {1, 2, 3}
    assert any(args[1].shape[1] == 16 for args in region_cases)  # the captioner's 4 x 4 regions
    hop_cases = list(EXERCISES["memory_hop"].cases())
    assert any((~mask).any() for *_, mask in hop_cases)
    assert any(mask.all(dim=-1).any() for *_, mask in hop_cases)  # a story with no padding


def test_attend_to_regions_is_the_captioners_attention():
    # The reference equals course_utils' AdditiveAttention, which the captioner's decoder uses,
    # given the same weights (nn.Linear keeps them transposed).
    from course_utils.attention import AdditiveAttention

    for z, regions, w_q, w_k, v in EXERCISES["attend_to_regions"].cases():
        attention = AdditiveAttention(w_q.shape[0], w_k.shape[0], w_q.shape[1])
        with torch.no_grad():
            attention.w_query.weight.copy_(w_q.T)
            attention.w_key.weight.copy_(w_k.T)
            attention.v.weight.copy_(v[None])
            context, alpha = attention(z[:, None], regions, regions)
        torch.testing.assert_close(EXERCISES["attend_to_regions"].reference(
            z, regions, w_q, w_k, v), context[:, 0])
        assert not torch.allclose(alpha, torch.full_like(alpha, 1 / regions.shape[1]),
                                  atol=0.05)  # the cases' weights are far from uniform


def _att(z, regions, w_q, w_k, v, *, squash=torch.tanh, score=None, weigh=None, read=None):
    """The captioner's attention, written as a learner might, with one mistake switched on."""
    hidden = squash((z @ w_q).unsqueeze(1) + regions @ w_k)      # (batch, R, a)
    e = hidden @ v if score is None else score(hidden)
    alpha = torch.softmax(e, dim=-1) if weigh is None else weigh(e)
    return (alpha.unsqueeze(-1) * (regions if read is None else read)).sum(dim=1)


def test_attend_to_regions_other_correct_answers():
    def with_modules(z, regions, w_q, w_k, v):
        e = torch.einsum("bra,a->br", torch.tanh(torch.einsum("bh,ha->ba", z, w_q)[:, None]
                                                  + torch.einsum("brd,da->bra", regions, w_k)),
                         v)
        return (torch.softmax(e, -1)[:, None] @ regions)[:, 0]

    assert check_exercise("attend_to_regions", with_modules).passed
    assert check_exercise("attend_to_regions", _att).passed


@pytest.mark.parametrize("mistake, fragment", [
    (lambda z, r, wq, wk, v: r.mean(dim=1), "the captioner *without* attention"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, weigh=lambda e: torch.softmax(
        e[..., None], dim=-1)[..., 0]), "every region got weight 1"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, weigh=lambda e: e), "were used as weights"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, squash=lambda t: t), "the tanh is missing"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, score=lambda t: t.sum(-1)),
     "summed instead of scored by v"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, weigh=lambda e: torch.softmax(e, dim=0)),
     "over the batch (dim 0)"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, weigh=lambda e: torch.nn.functional.one_hot(
        e.argmax(-1), e.shape[-1]).float()), "hard attention"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v, read=r @ wk), "the projected regions"),
    (lambda z, r, wq, wk, v: torch.softmax(torch.tanh((z @ wq)[:, None] + r @ wk) @ v, -1),
     "those are the weights α"),
    (lambda z, r, wq, wk, v: torch.softmax(torch.tanh((z @ wq)[:, None] + r @ wk) @ v, -1) @ r,
     "pairs every image's weights with every image's regions"),
    (lambda z, r, wq, wk, v: torch.softmax(torch.tanh((z @ wq)[:, None] + r @ wk) @ v, -1)[
        :, None] @ r, ".squeeze(1)"),
    (lambda z, r, wq, wk, v: torch.softmax(torch.tanh(z @ wq + r @ wk) @ v, -1),
     "(z @ w_q).unsqueeze(1)"),
    (lambda z, r, wq, wk, v: _att(z, r, wk, wq, v), "z @ w_q and regions @ w_k"),
    (lambda z, r, wq, wk, v: _att(z, r, wq, wk, v) * 1.01, "the values are off by"),
])
def test_attend_to_regions_mistakes(mistake, fragment):
    assert_wrong(check_exercise("attend_to_regions", mistake), fragment)


def test_attend_to_regions_unfinished_is_not_yet():
    result = check_exercise("attend_to_regions", _raises_not_implemented)
    assert result.status == "not yet" and "NotImplementedError" in result.message


@pytest.mark.parametrize("mistake, fragment", [
    (lambda u, k, v, m: _hop(u, k, v, m, residual=False), "you returned o alone"),
    (lambda u, k, v, m: _hop(u, k, v, m, match_with="values", sum_of="keys"),
     "keys and values are swapped"),
    (lambda u, k, v, m: _hop(u, k, v, m, masked=False), "padding sentences get weight"),
    (lambda u, k, v, m: _nan_safe_inverted(u, k, v, m), "the mask is the wrong way round"),
    (lambda u, k, v, m: _hop(u, k, v, m, scale=u.shape[-1] ** 0.5), "not divided by √d"),
    (lambda u, k, v, m: _hop(u, k, v, m) - u + u.mean(), "the values are off by"),
    (lambda u, k, v, m: torch.softmax((k @ u.unsqueeze(-1)).squeeze(-1), -1),
     "should have shape (2, 3)"),
])
def test_memory_hop_mistakes(mistake, fragment):
    assert_wrong(check_exercise("memory_hop", mistake), fragment)


def test_memory_hop_plain_inverted_mask_is_named():
    """The way a learner writes an inverted mask, scores.masked_fill(mask, -inf) then
    torch.softmax, gives NaN on a story without padding (every score -inf): the checker
    must still name the inverted mask, not talk about overflow (so the inverted-mask
    diagnosis runs before the finiteness one)."""
    result = check_exercise("memory_hop", lambda u, k, v, m: _hop(u, k, v, m,
                                                                  masked="inverted"))
    assert_wrong(result, "the mask is the wrong way round")


def test_memory_hop_unfinished_is_not_yet():
    result = check_exercise("memory_hop", _raises_not_implemented)
    assert result.status == "not yet" and "not yet" in result.message
    assert check_exercise("memory_hop", _returns_none).status == "not yet"


# ---- diagnoses added after the chapter 03 review
def test_a_big_wrong_output_is_summarised_not_dumped(monkeypatch):
    big = [(torch.randn(10, 4, generator=torch.Generator().manual_seed(0)),
            torch.randn(10, 4, generator=torch.Generator().manual_seed(1)))]
    monkeypatch.setitem(EXERCISES, "scores", dataclasses.replace(
        EXERCISES["scores"], cases=lambda: iter(big)))
    result = check_exercise("scores", lambda q, k: q @ k.mT + 0.01)
    assert result.status == "wrong" and "The worst is at index" in result.message
    assert len(result.message) < 400


def _hop_from_weights(u, k, v, p):
    return u + (p.unsqueeze(1) @ v).squeeze(1)


def _scores(u, k):
    return (k @ u.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("mistake, fragment", [
    (lambda u, k, v, m: _hop_from_weights(u, k, v, torch.softmax(
        _scores(u, k).masked_fill(~m, 0.0), -1)), "exp(0) = 1"),
    (lambda u, k, v, m: _hop_from_weights(u, k, v, torch.softmax(_scores(u, k), -1) * m),
     "*after* the softmax"),
    (lambda u, k, v, m: _hop_from_weights(u, k, v, torch.softmax(
        _scores(u, k).masked_fill(~m, float("-inf")), 0).nan_to_num()), "over the batch"),
    (lambda u, k, v, m: (ref_memory_hop(u, k, v, m), None), "returned a tuple of 2"),
])
def test_memory_hop_weight_mistakes(mistake, fragment):
    assert_wrong(check_exercise("memory_hop", mistake), fragment)


# ---- chapters 04 and 05
def _sa(x, wq, wk, wv, scale=None, dim=-1):
    q, k, v = x @ wq, x @ wk, x @ wv
    s = q @ k.T / (q.shape[-1] ** 0.5 if scale is None else scale)
    return torch.softmax(s, dim=dim) @ v


def test_self_attention_reference_and_mistakes():
    assert check_exercise("self_attention", _sa).passed
    assert_wrong(check_exercise("self_attention", lambda x, a, b, c: _sa(x, a, b, c, scale=1.0)),
                 "not divided by √d_k")
    assert_wrong(check_exercise("self_attention", lambda x, a, b, c: _sa(x, a, b, c, dim=0)),
                 "dim 0")
    assert_wrong(check_exercise("self_attention",
                                lambda x, a, b, c: _sa(x, a, b, c, scale=a.shape[1])),
                 "divided by d_k")


def _causal(q, k, v, allowed=None, *, scale=None, fill=float("-inf"), dim=-1, after=False,
            transpose=False):
    """Causal attention as a learner writes it, with one mistake switched on."""
    n = q.shape[-2]
    allowed = torch.ones(n, n, dtype=torch.bool).tril() if allowed is None else allowed(n)
    scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5 if scale is None else scale(q, v))
    if after:
        w = torch.softmax(scores, dim=-1) * allowed
    else:
        w = torch.softmax(scores.masked_fill(~allowed, fill), dim=dim)
    return (w.transpose(-2, -1) if transpose else w) @ v


def _ones(n):
    return torch.ones(n, n, dtype=torch.bool)


def test_causal_attention_reference_and_other_correct_answers():
    F = torch.nn.functional
    for args in EXERCISES["causal_attention"].cases():
        torch.testing.assert_close(EXERCISES["causal_attention"].reference(*args),
                                   F.scaled_dot_product_attention(*args, is_causal=True))
    assert check_exercise("causal_attention", _causal).passed
    assert check_exercise("causal_attention",
                          lambda q, k, v: F.scaled_dot_product_attention(q, k, v,
                                                                         is_causal=True)).passed
    assert check_exercise("causal_attention", lambda q, k, v: _causal(q, k, v, fill=-1e9)).passed

    def renormalised(q, k, v):  # zero the future after the softmax, then renormalise: right
        w = torch.softmax(q @ k.mT / q.shape[-1] ** 0.5, -1) * _ones(q.shape[-2]).tril()
        return w / w.sum(-1, keepdim=True) @ v

    assert check_exercise("causal_attention", renormalised).passed


@pytest.mark.parametrize("mistake, fragment", [
    (lambda q, k, v: _causal(q, k, v, allowed=_ones), "nothing is masked"),
    (lambda q, k, v: _causal(q, k, v, allowed=lambda n: _ones(n).triu()), "upper triangle"),
    (lambda q, k, v: _causal(q, k, v, allowed=lambda n: ~_ones(n).tril()),
     "the mask is the wrong way round"),
    (lambda q, k, v: _causal(q, k, v, allowed=lambda n: ~_ones(n).tril()).nan_to_num(0.0),
     "the mask is the wrong way round"),
    (lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(  # True = masked, as in
        q, k, v, attn_mask=~_ones(q.shape[-2]).tril()),                # nn.MultiheadAttention
     "the mask is the wrong way round"),
    (lambda q, k, v: _causal(q, k, v, allowed=lambda n: _ones(n).tril(-1)),
     "the diagonal is masked too"),
    (lambda q, k, v: _causal(q, k, v, allowed=lambda n: _ones(n).tril(-1)).nan_to_num(0.0),
     "the diagonal is masked too"),
    (lambda q, k, v: _causal(q, k, v, after=True), "*after* the softmax"),
    (lambda q, k, v: _causal(q, k, v, fill=0.0), "exp(0) = 1"),
    (lambda q, k, v: torch.softmax(q @ k.mT / q.shape[-1] ** 0.5 * _ones(q.shape[-2]).tril(),
                                   -1) @ v, "exp(0) = 1"),
    (lambda q, k, v: _causal(q, k, v, scale=lambda q, v: 1.0), "not divided by √d_k"),
    (lambda q, k, v: _causal(q, k, v, scale=lambda q, v: q.shape[-1]), "divided by d_k"),
    (lambda q, k, v: _causal(q, k, v, scale=lambda q, v: v.shape[-1] ** 0.5),
     "divided by √d_v"),
    (lambda q, k, v: _causal(q, k, v, dim=-2), "over the queries (dim=-2)"),
    (lambda q, k, v: _causal(q, k, v, transpose=True), "the weights are transposed"),
    (lambda q, k, v: _causal(q, k, v)[..., :1], "should have shape (4, 2)"),
])
def test_causal_attention_mistakes(mistake, fragment):
    assert_wrong(check_exercise("causal_attention", mistake), fragment)


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
def test_causal_attention_with_dot_t_fails_on_the_batch_with_a_hint():
    def with_t(q, k, v):
        scores = (q @ k.T / q.shape[-1] ** 0.5).masked_fill(~_ones(q.shape[-2]).tril(), -torch.inf)
        return torch.softmax(scores, dim=-1) @ v

    assert_wrong(check_exercise("causal_attention", with_t), ".transpose(-2, -1)", case=2)


def test_causal_attention_nan_elsewhere_is_not_a_mask_mistake():
    def nan_last_entry(q, k, v):
        out = _causal(q, k, v).clone()
        out[..., -1, -1] = float("nan")
        return out

    result = check_exercise("causal_attention", nan_last_entry)
    assert_wrong(result, "your output has NaN in 1 of")
    assert "wrong way round" not in result.message and "diagonal" not in result.message


def _mha_torch(x, w_q, w_k, w_v, w_o, h):
    """torch.nn.MultiheadAttention with these weights (it keeps them transposed, as Linear)."""
    d = x.shape[-1]
    layer = torch.nn.MultiheadAttention(d, h, bias=False, batch_first=True)
    with torch.no_grad():
        layer.in_proj_weight.copy_(torch.cat([w_q.T, w_k.T, w_v.T]))
        layer.out_proj.weight.copy_(w_o.T)
        return layer(x, x, x, need_weights=False)[0]


def _heads(x, w_q, w_k, w_v, w_o, h, *, scale=None, order=1, project=True, dim=-1):
    """Multi-head attention by hand, head by head with chunk and cat (as section 2 of the
    chapter), with one mistake switched on."""
    d_h = x.shape[-1] // h
    qs, ks, vs = ((x @ w).chunk(h, dim=-1) for w in (w_q, w_k, w_v))
    heads = [torch.softmax(q @ k.mT / (d_h ** 0.5 if scale is None else scale), dim=dim) @ v
             for q, k, v in zip(qs, ks, vs, strict=True)]
    concat = torch.cat(heads[::order], dim=-1)
    return concat @ w_o if project else concat


def _mha_course(x, w_q, w_k, w_v, w_o, h):
    from course_utils.attention import MultiHeadAttention

    layer = MultiHeadAttention(x.shape[-1], h, bias=False)
    with torch.no_grad():
        for linear, w in zip((layer.w_query, layer.w_key, layer.w_value, layer.w_out),
                             (w_q, w_k, w_v, w_o), strict=True):
            linear.weight.copy_(w.T)
        return layer(x, x, x)[0]


def test_multi_head_attention_equals_pytorch_and_the_course():
    for args in EXERCISES["multi_head_attention"].cases():
        expected = EXERCISES["multi_head_attention"].reference(*args)
        torch.testing.assert_close(expected, _mha_torch(*args))
        torch.testing.assert_close(expected, _mha_course(*args))
    assert {args[-1] for args in EXERCISES["multi_head_attention"].cases()} >= {1, 2, 3, 4}
    for function in (_heads, _mha_torch, _mha_course):
        assert check_exercise("multi_head_attention", function).passed


def _reshaped(x, w_q, w_k, w_v, w_o, h, *, split="blocks", merge="blocks"):
    """Multi-head attention with reshape and transpose, one layout mistake switched on."""
    b, n, d = x.shape
    d_h = d // h
    cut = {"blocks": lambda t: t.reshape(b, n, h, d_h).transpose(1, 2),
           "straight": lambda t: t.reshape(b, h, n, d_h),
           "interleaved": lambda t: t.reshape(b, n, d_h, h).permute(0, 3, 1, 2)}[split]
    q, k, v = cut(x @ w_q), cut(x @ w_k), cut(x @ w_v)
    heads = torch.softmax(q @ k.mT / d_h ** 0.5, dim=-1) @ v
    glue = {"blocks": lambda t: t.transpose(1, 2).reshape(b, n, d),
            "straight": lambda t: t.reshape(b, n, d),
            "interleaved": lambda t: t.permute(0, 2, 3, 1).reshape(b, n, d)}[merge]
    return glue(heads) @ w_o


@pytest.mark.parametrize("mistake, fragment", [
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h, project=False), "W^O is missing"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, 1), "one attention over all d_model"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h, scale=x.shape[-1] ** 0.5),
     "divided by √d_model"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h, scale=1.0), "not divided by √d_h"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h, order=-1),
     "concatenated in the wrong order"),
    (lambda x, q, k, v, o, h: _reshaped(x, q, k, v, o, h, split="interleaved"),
     "every h-th column"),
    (lambda x, q, k, v, o, h: _reshaped(x, q, k, v, o, h, split="interleaved",
                                        merge="interleaved"), "every h-th column"),
    (lambda x, q, k, v, o, h: _reshaped(x, q, k, v, o, h, merge="interleaved"),
     "interleaved column by column"),
    (lambda x, q, k, v, o, h: _reshaped(x, q, k, v, o, h, split="straight"),
     "cuts across tokens"),
    (lambda x, q, k, v, o, h: _reshaped(x, q, k, v, o, h, merge="straight"), "mixes tokens"),
    (lambda x, q, k, v, o, h: _heads(x, q.T, k.T, v.T, o.T, h), "the weights are transposed"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h, dim=-2), "over the queries (dim=-2)"),
    (lambda x, q, k, v, o, h: torch.stack(_heads(x, q, k, v, o, h, project=False).chunk(h, -1),
                                          dim=1), "the h heads' outputs"),
    (lambda x, q, k, v, o, h: sum(_heads(x, q, k, v, o, h, project=False).chunk(h, -1)),
     "averaged or summed"),
    (lambda x, q, k, v, o, h: (x @ q).reshape(x.shape[0], x.shape[1], h, x.shape[-1]),
     "reshape to (batch, n, h, d_h)"),
    (lambda x, q, k, v, o, h: (x @ q).reshape(x.shape[0], x.shape[1], h, x.shape[-1] / h),
     "d_model // h"),
    (lambda x, q, k, v, o, h: _heads(x, q, k, v, o, h) + 0.01, "the values are off by"),
])
def test_multi_head_attention_mistakes(mistake, fragment):
    assert_wrong(check_exercise("multi_head_attention", mistake), fragment)


def test_chapter_04_and_05_unfinished_is_not_yet():
    for name in ("causal_attention", "multi_head_attention"):
        result = check_exercise(name, _raises_not_implemented)
        assert result.status == "not yet" and "NotImplementedError" in result.message


def test_review_diagnoses_for_self_attention():
    def sa(x, wq, wk, wv, scale=None, transpose=False):
        q, k, v = x @ wq, x @ wk, x @ wv
        w = torch.softmax(q @ k.T / (scale or q.shape[-1]) ** 0.5, -1)
        return (w.T if transpose else w) @ v

    assert_wrong(check_exercise("self_attention", lambda x, a, b, c: sa(x, a, b, c,
                                                                        scale=x.shape[-1])),
                 "√d_model")
    assert_wrong(check_exercise("self_attention", lambda x, a, b, c: sa(x, a, b, c,
                                                                        transpose=True)),
                 "transposed")


# ---- chapters 06 and 07
def _pe(n, d, swap=False, half=False):
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    steps = torch.arange(0, d, 2) if not half else torch.arange(d // 2)
    omega = 10000 ** (-steps.float() / d)
    first, second = (torch.sin, torch.cos) if not swap else (torch.cos, torch.sin)
    out = torch.zeros(n, d)
    out[:, 0::2], out[:, 1::2] = first(pos * omega), second(pos * omega)
    return out


def test_positional_encoding_reference_and_mistakes():
    assert check_exercise("positional_encoding", _pe).passed
    assert_wrong(check_exercise("positional_encoding", lambda n, d: _pe(n, d, swap=True)),
                 "swapped")
    assert_wrong(check_exercise("positional_encoding", lambda n, d: _pe(n, d, half=True)),
                 "2i/d_model")


def test_offset_matrix_reference_and_mistakes():
    from course_utils.learner.exercises.chapter_06 import _offset_reference as reference

    assert check_exercise("offset_matrix", reference).passed
    assert_wrong(check_exercise("offset_matrix", lambda k, d: reference(k, d).T), "other way")
    assert_wrong(check_exercise("offset_matrix", lambda k, d: reference(k + 1, d)), "PE[p + 1]")


def _ln(x, unbiased=False):
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(-1, unbiased=unbiased, keepdim=True) + 1e-5)


def test_layer_norm_and_add_and_norm():
    assert check_exercise("layer_norm", _ln).passed
    assert_wrong(check_exercise("layer_norm", lambda x: _ln(x, unbiased=True)), "n − 1")
    assert_wrong(check_exercise("layer_norm", lambda x: _ln(x.transpose(0, -1)).transpose(0, -1)),
                 "dim 0")
    assert_wrong(check_exercise("layer_norm", lambda x: x - x.mean(-1, keepdim=True)),
                 "not divided")
    assert check_exercise("add_and_norm", lambda x, o: _ln(x + o)).passed
    assert_wrong(check_exercise("add_and_norm", lambda x, o: x + _ln(o)),
                 "normalises the sublayer's output", "neither post-norm nor pre-norm")
    assert_wrong(check_exercise("add_and_norm", lambda x, o: _ln(o)), "residual is missing")
    assert_wrong(check_exercise("add_and_norm", lambda x, o: x + o), "not normalised")


# ---- chapter 08
def test_sharpen_and_erase_then_add():
    def sharpen(w, g):  # in log space: w ** g underflows for the case with γ = 200
        return torch.softmax(g * w.log(), dim=-1)

    def write(m, w, e, a):
        return m * (1 - w[..., None] * e[:, None]) + w[..., None] * a[:, None]

    assert check_exercise("sharpen", sharpen).passed
    assert_wrong(check_exercise("sharpen", lambda w, g: w ** g), "not renormalised")
    assert_wrong(check_exercise("sharpen", lambda w, g: torch.softmax(w * g, -1)), "softmax(γ w)")
    assert check_exercise("erase_then_add", write).passed

    def spread(w):
        return w[..., None]

    mistakes = {
        "ignores the weighting": lambda m, w, e, a: m * (1 - e[:, None]) + spread(w) * a[:, None],
        "add came before erase": lambda m, w, e, a: ((m + spread(w) * a[:, None])
                                                     * (1 - spread(w) * e[:, None])),
        "add step is missing": lambda m, w, e, a: m * (1 - spread(w) * e[:, None]),
        "erase step is missing": lambda m, w, e, a: m + spread(w) * a[:, None],
    }
    for fragment, mistake in mistakes.items():
        assert_wrong(check_exercise("erase_then_add", mistake), fragment)


def test_erase_then_add_must_not_modify_the_memory():
    def in_place(m, w, e, a):
        m *= 1 - w[..., None] * e[:, None]
        m += w[..., None] * a[:, None]
        return m

    assert_wrong(check_exercise("erase_then_add", in_place), "modified its input (argument 1)")

    def sharpen_in_place(w, g):  # sharpen does not forbid it: only the values count
        w.log_().mul_(g)
        return torch.softmax(w, dim=-1)

    assert check_exercise("sharpen", sharpen_in_place).passed


def test_sharpen_underflow_and_shape_hints():
    naive = lambda w, g: w ** g / (w ** g).sum(-1, keepdim=True)  # noqa: E731
    assert_wrong(check_exercise("sharpen", naive), "Work in log space", case=3)
    stable = lambda w, g: torch.softmax(g * w.log(), dim=-1)  # noqa: E731
    assert check_exercise("sharpen", stable).passed
    assert_wrong(check_exercise("sharpen", lambda w, g: torch.softmax(g * w.log(), dim=0)),
                 "over the batch")
    no_keepdim = lambda w, g: torch.softmax(g * w.log(), -1) / w.sum(-1)  # noqa: E731
    assert_wrong(check_exercise("sharpen", no_keepdim), "keepdim=True")


def test_erase_then_add_more_mistakes_and_shape_hint():
    spread = lambda w: w[..., None]  # noqa: E731
    unweighted_add = lambda m, w, e, a: m * (1 - spread(w) * e[:, None]) + a[:, None]  # noqa: E731
    assert_wrong(check_exercise("erase_then_add", unweighted_add), "add is not weighted")
    subtracted = lambda m, w, e, a: m - spread(w) * e[:, None] + spread(w) * a[:, None]  # noqa: E731
    assert_wrong(check_exercise("erase_then_add", subtracted), "it multiplies")
    flat = lambda m, w, e, a: m * (1 - w * e) + w * a  # noqa: E731
    assert_wrong(check_exercise("erase_then_add", flat), "w.unsqueeze(-1)")


# ---- chapter 09
def _partial(scores, values):
    m = scores.amax(dim=-1, keepdim=True)
    safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(scores - safe)
    return m, p.sum(dim=-1, keepdim=True), p @ values


def test_merge_partials_right_and_wrong():
    def merge(m1, l1, a1, m2, l2, a2):
        m = torch.maximum(m1, m2)
        r1, r2 = torch.exp(m1 - m), torch.exp(m2 - m)
        return (a1 * r1 + a2 * r2) / (l1 * r1 + l2 * r2)

    assert check_exercise("merge_partials", merge).passed
    assert_wrong(check_exercise("merge_partials", lambda m1, l1, a1, m2, l2, a2:
                                (a1 + a2) / (l1 + l2)), "without rescaling")
    assert_wrong(check_exercise("merge_partials", lambda m1, l1, a1, m2, l2, a2:
                                (a1 / l1 + a2 / l2) / 2), "averaging")

    def nan_on_masked(m1, l1, a1, m2, l2, a2):  # right, except 0/0 for the masked half
        return merge(m1, l1, a1, m2, l2, a2) * (l1 / l1)

    assert_wrong(check_exercise("merge_partials", nan_on_masked), "all masked", case=3)


def test_merge_partials_cases_agree_with_softmax():
    scores = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    values = torch.randn(2, 8, 4, generator=torch.Generator().manual_seed(1))
    reference = EXERCISES["merge_partials"].reference
    merged = reference(*_partial(scores[..., :3], values[:, :3]),
                       *_partial(scores[..., 3:], values[:, 3:]))
    torch.testing.assert_close(merged, torch.softmax(scores, -1) @ values)


def test_online_logsumexp_right_and_wrong():
    def online(scores, chunk):
        m = torch.full((*scores.shape[:-1], 1), float("-inf"))
        total = torch.zeros(*scores.shape[:-1], 1)
        for start in range(0, scores.shape[-1], chunk):
            block = scores[..., start:start + chunk]
            new = torch.maximum(m, block.max(dim=-1, keepdim=True).values)
            total = total * torch.exp(m - new) + torch.exp(block - new).sum(-1, keepdim=True)
            m = new
        return m + torch.log(total)

    assert check_exercise("online_logsumexp", online).passed
    overflow = lambda s, c: torch.log(torch.exp(s).sum(-1, keepdim=True))  # noqa: E731
    assert_wrong(check_exercise("online_logsumexp", overflow), "overflows", case=3)

    def no_rescale(scores, chunk):
        blocks = scores.split(chunk, dim=-1)
        maxima = [b.amax(-1, keepdim=True) for b in blocks]
        total = sum(torch.exp(b - m).sum(-1, keepdim=True)
                    for b, m in zip(blocks, maxima, strict=True))
        return torch.stack(maxima).amax(0) + torch.log(total)

    assert_wrong(check_exercise("online_logsumexp", no_rescale), "multiply the running sum")
    last_only = lambda s, c: s.split(c, -1)[-1].logsumexp(-1, keepdim=True)  # noqa: E731
    assert_wrong(check_exercise("online_logsumexp", last_only), "only the last block")
    assert_wrong(check_exercise("online_logsumexp", lambda s, c: torch.logsumexp(s, -1)),
                 "keepdim=True")


def test_chapter_09_diagnoses():
    def merge_with(factor, normalise=True, rescale_l=True):
        def merge(m1, l1, a1, m2, l2, a2):
            m = torch.maximum(m1, m2)
            r1, r2 = factor(m1, m), factor(m2, m)
            a = a1 * r1 + a2 * r2
            if not normalise:
                return a
            return a / ((l1 * r1 + l2 * r2) if rescale_l else (l1 + l2))
        return merge

    down = lambda mi, m: torch.exp(mi - m)  # noqa: E731
    assert check_exercise("merge_partials", merge_with(down)).passed
    assert_wrong(check_exercise("merge_partials", merge_with(down, normalise=False)),
                 "divide the merged a")
    assert_wrong(check_exercise("merge_partials", merge_with(down, rescale_l=False)),
                 "ℓ was not")
    assert_wrong(check_exercise("merge_partials", merge_with(lambda mi, m: torch.exp(m - mi))),
                 "upside down")

    def online(scores, chunk, start=float("-inf"), upside_down=False, add_max=True):
        m = torch.full((*scores.shape[:-1], 1), start)
        total = torch.zeros(*scores.shape[:-1], 1)
        for begin in range(0, scores.shape[-1], chunk):
            block = scores[..., begin:begin + chunk]
            new = torch.maximum(m, block.max(dim=-1, keepdim=True).values)
            factor = torch.exp(new - m) if upside_down else torch.exp(m - new)
            total = total * factor + torch.exp(block - new).sum(-1, keepdim=True)
            m = new
        return m + torch.log(total) if add_max else torch.log(total)

    assert_wrong(check_exercise("online_logsumexp", lambda s, c: online(s, c, start=0.0)),
                 "start the running maximum at −inf", case=5)
    assert_wrong(check_exercise("online_logsumexp",
                                lambda s, c: online(s, c, upside_down=True)), "must be ≤ 1")
    assert_wrong(check_exercise("online_logsumexp", lambda s, c: online(s, c, add_max=False)),
                 "not added back")


# ======================================================================= chapter 10
def ref_shift_right(target_out, bos_id):
    rows = []
    for row in target_out.tolist():
        shifted = [bos_id, *row[:-1]]
        rows.append([0 if i == 2 else i for i in shifted])
    return torch.tensor(rows)


def ref_attend_with_cache(q_t, k_t, v_t, k_cache, v_cache):
    keys = torch.cat([k_cache, k_t], dim=-2)
    values = torch.cat([v_cache, v_t], dim=-2)
    weights = torch.softmax(q_t @ keys.transpose(-2, -1) / keys.shape[-1] ** 0.5, dim=-1)
    return weights @ values


def test_shift_right_right_and_wrong():
    assert check_exercise("shift_right", ref_shift_right).passed
    keep_eos = lambda t, b: torch.cat([torch.full_like(t[:, :1], b), t[:, :-1]], dim=1)  # noqa: E731
    assert_wrong(check_exercise("shift_right", keep_eos), "still there", case=2)
    too_long = lambda t, b: torch.cat([torch.full_like(t[:, :1], b), t], dim=1)  # noqa: E731
    assert_wrong(check_exercise("shift_right", too_long), "one longer")
    assert_wrong(check_exercise("shift_right", lambda t, b: t.clone()), "unchanged")
    left = lambda t, b: torch.cat([t[:, 1:], torch.full_like(t[:, :1], b)], dim=1)  # noqa: E731
    assert_wrong(check_exercise("shift_right", left), "wrong way")

    def overwrite_first(t, b):
        s = t.clone()
        s[:, 0] = b
        return s.masked_fill(s == 2, 0)
    assert_wrong(check_exercise("shift_right", overwrite_first), "nothing moved")
    assert_wrong(check_exercise("shift_right", lambda t, b: torch.full_like(t, 5)),
                 "start with bos_id")
    fixed_bos = lambda t, b: ref_shift_right(t, 1)  # noqa: E731
    assert_wrong(check_exercise("shift_right", fixed_bos), "= 7", case=3)

    def in_place(t, b):
        t[:, 1:] = t[:, :-1].clone()
        t[:, 0] = b
        return t.masked_fill(t == 2, 0)
    assert_wrong(check_exercise("shift_right", in_place), "in place")


def test_attend_with_cache_right_and_wrong():
    assert check_exercise("attend_with_cache", ref_attend_with_cache).passed

    def only_cache(q, k, v, kc, vc):
        return torch.softmax(q @ kc.mT / kc.shape[-1] ** 0.5, dim=-1) @ vc

    def unscaled(q, k, v, kc, vc):
        keys, values = torch.cat([kc, k], -2), torch.cat([vc, v], -2)
        return torch.softmax(q @ keys.mT, dim=-1) @ values

    def wrong_axis(q, k, v, kc, vc):
        keys, values = torch.cat([kc, k], -2), torch.cat([vc, v], -2)
        return torch.softmax(q @ keys.mT / keys.shape[-1] ** 0.5, dim=-2) @ values

    assert_wrong(check_exercise("attend_with_cache", only_cache), "attends to itself")
    assert_wrong(check_exercise("attend_with_cache", unscaled), "√d")
    assert_wrong(check_exercise("attend_with_cache", wrong_axis), "wrong axis")
    assert_wrong(check_exercise("attend_with_cache", lambda q, k, v, kc, vc: v.clone()),
                 "only to itself")

    def causal_flag(q, k, v, kc, vc):  # PyTorch's causal mask is top-left aligned
        return torch.nn.functional.scaled_dot_product_attention(
            q, torch.cat([kc, k], -2), torch.cat([vc, v], -2), is_causal=True)

    def by_sqrt(size_of):
        def attend(q, k, v, kc, vc):
            keys, values = torch.cat([kc, k], -2), torch.cat([vc, v], -2)
            return torch.softmax(q @ keys.mT / size_of(keys, values) ** 0.5, dim=-1) @ values
        return attend

    assert_wrong(check_exercise("attend_with_cache", causal_flag), "is_causal")
    assert_wrong(check_exercise("attend_with_cache", by_sqrt(lambda k, v: v.shape[-1])), "√d_v")
    assert_wrong(check_exercise("attend_with_cache", by_sqrt(lambda k, v: k.shape[-2])),
                 "number of keys", case=2)


# ======================================================================= the notebooks
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _exercise_cells(chapter):
    """(exercise, function) pairs that the chapter's cells check, and its folded solutions."""
    cells = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4).cells
    checked = [pair for c in cells if c.cell_type == "code"
               for pair in re.findall(r'check_exercise\("(\w+)", (\w+)\)', c.source)]
    solutions = "\n".join(
        block for c in cells
        if c.cell_type == "markdown" and c.source.lstrip().startswith("<details>")
        for block in re.findall(r"```python\n(.*?)```", c.source, flags=re.S))
    return checked, solutions


@pytest.mark.parametrize("chapter", sorted(set(EXERCISE_CHAPTERS.values())))
def test_the_folded_solutions_pass_their_checkers(chapter):
    checked, solutions = _exercise_cells(chapter)
    assert sorted(name for name, _ in checked) == sorted(
        n for n, c in EXERCISE_CHAPTERS.items() if c == chapter)
    namespace = {"torch": torch, "math": math, "F": torch.nn.functional}
    exec(compile(solutions, f"{chapter} solutions", "exec"), namespace)  # noqa: S102
    for name, function in checked:
        result = check_exercise(name, namespace[function])
        assert result.passed, (chapter, result)


def test_chapter_01_asks_for_the_softmax_before_showing_it():
    cells = nbformat.read(NOTEBOOKS / "01_attention_and_memory.ipynb", as_version=4).cells
    code = [c.source for c in cells if c.cell_type == "code"]
    stub = next(i for i, s in enumerate(code) if 'check_exercise("attention_weights"' in s)
    shown = next(i for i, s in enumerate(code) if "scores.max(dim=-1, keepdim=True)" in s)
    assert stub < shown


@pytest.mark.parametrize("chapter, name", [
    ("03_attention_applications", "attend_to_regions"),
    ("04_self_attention", "causal_attention"),
    ("05_multi_head_attention", "multi_head_attention"),
])
def test_the_new_exercises_are_asked_and_the_old_ones_gone(chapter, name):
    # the whole file, outputs included: a stale "not yet" of an old exercise fails too
    text = (NOTEBOOKS / f"{chapter}.ipynb").read_text(encoding="utf-8")
    assert f'check_exercise(\\"{name}\\"' in text
    for old in ("attention_to_pixels", "causal_mask(n)", "split_heads(x, h)",
                "concat_heads(heads)"):
        assert old not in text, (chapter, old)


# ------------------------------------------------------------------ chapter 11
def ref_wordpiece_ids(word, vocab):
    ids, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                break
        else:
            return torch.tensor([vocab["[UNK]"]])
        ids.append(vocab[piece])
        start = end
    return torch.tensor(ids, dtype=torch.long)


def ref_sentence_embedding(hidden, mask):
    m = mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * m).sum(dim=1) / m.sum(dim=1)
    return mean / mean.norm(dim=-1, keepdim=True)


def test_wordpiece_ids_right_and_wrong():
    from course_utils.learner.exercises.chapter_11 import _cut

    assert check_exercise("wordpiece_ids", ref_wordpiece_ids).passed
    assert_wrong(check_exercise("wordpiece_ids",
                                lambda w, v: torch.tensor(_cut(w, v, longest=False))), "LONGEST")
    assert_wrong(check_exercise("wordpiece_ids",
                                lambda w, v: torch.tensor(_cut(w, v, continuation=""))), '"##"')
    assert_wrong(check_exercise("wordpiece_ids",
                                lambda w, v: torch.tensor(_cut(w, v, first="##"))), "first piece")
    assert_wrong(check_exercise("wordpiece_ids",
                                lambda w, v: torch.tensor(_cut(w, v, partial=True))), "WHOLE word",
                 case=6)
    assert_wrong(check_exercise("wordpiece_ids", lambda w, v: torch.tensor([_cut(w, v)])),
                 "1-d tensor")
    assert_wrong(check_exercise("wordpiece_ids", lambda w, v: _cut(w, v)), "torch.Tensor")
    result = check_exercise("wordpiece_ids", lambda w, v: torch.tensor(_cut(w, v)))
    assert result.passed and "vocab of 28 pieces" not in result.message


def test_sentence_embedding_right_and_wrong():
    F = torch.nn.functional
    assert check_exercise("sentence_embedding", ref_sentence_embedding).passed
    # the sum, normalised, is the mean normalised: the same direction, so it is right
    assert check_exercise("sentence_embedding",
                          lambda h, m: F.normalize((h * m[..., None]).sum(1), dim=-1)).passed
    assert_wrong(check_exercise("sentence_embedding", lambda h, m: F.normalize(h.mean(1), dim=-1)),
                 "padding was averaged in")
    assert_wrong(check_exercise("sentence_embedding",
                                lambda h, m: (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)),
                 "not yet divided by its length")
    assert_wrong(check_exercise("sentence_embedding", lambda h, m: F.normalize(h[:, 0], dim=-1)),
                 "[CLS]")
    assert_wrong(check_exercise("sentence_embedding",
                                lambda h, m: ref_sentence_embedding(h, ~m)), "inverted")
    assert_wrong(check_exercise("sentence_embedding",
                                lambda h, m: F.normalize((h * m[..., None]).sum(1), dim=0)),
                 "over the batch")
    assert_wrong(check_exercise("sentence_embedding", lambda h, m: ref_sentence_embedding(h, m)
                                .sum(-1)), "shape")
