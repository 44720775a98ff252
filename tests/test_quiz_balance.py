"""The course's quizzes give nothing away by their form, and every wrong answer gets a hint.

Measured over the single-choice questions of all the quiz files, in the order the learner
sees them (options are not shuffled at display time):

* no position (a, b, c, …) holds more than 40% of the right answers;
* the longest option (by characters; a tie counts) is the right one in at most 35% of them,
  and so is the shortest (the mirror image of the same tell).

And: option ids read a, b, c, … in the order shown (they are the labels the learner sees);
every wrong option explains why it is wrong; every numeric question has a ``method`` (the hint
for any wrong number) and lists its typical wrong numbers in ``mistakes``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from string import ascii_lowercase

import pytest

from course_utils.learner.quiz import Question, grade, load_quiz_file

QUIZ_FILES = sorted((Path(__file__).resolve().parents[1] / "quizzes").glob("*.yaml"))
MAX_POSITION_SHARE = 0.40
MAX_LONGEST_SHARE = 0.35
MAX_SHORTEST_SHARE = 0.35

QUESTIONS = [(path.stem, q) for path in QUIZ_FILES for q in load_quiz_file(path).questions]
SINGLE = [(chapter, q) for chapter, q in QUESTIONS if q.kind == "single"]
NUMERIC = [(chapter, q) for chapter, q in QUESTIONS if q.kind == "numeric"]
WITH_OPTIONS = [(chapter, q) for chapter, q in QUESTIONS if q.options]


def name(item: tuple[str, Question]) -> str:
    chapter, question = item
    return f"{chapter[:2]}-{question.id}"


def right_index(question: Question) -> int:
    return next(i for i, option in enumerate(question.options) if option.correct)


def lengths(question: Question) -> list[int]:
    return [len(option.text) for option in question.options]


def shares() -> tuple[dict[str, float], float, float]:
    """The share of right answers at each position, and the share of questions whose right
    option is the longest (resp. the shortest) one."""
    total = len(SINGLE)
    positions = Counter(ascii_lowercase[right_index(q)] for _, q in SINGLE)
    longest = sum(lengths(q)[right_index(q)] == max(lengths(q)) for _, q in SINGLE)
    shortest = sum(lengths(q)[right_index(q)] == min(lengths(q)) for _, q in SINGLE)
    return ({p: n / total for p, n in sorted(positions.items())}, longest / total,
            shortest / total)


def report() -> str:
    positions, longest, shortest = shares()
    histogram = ", ".join(f"{p}: {share:.0%}" for p, share in positions.items())
    return (f"over {len(SINGLE)} single-choice questions: right answer at {histogram}; "
            f"longest option right {longest:.0%}, shortest option right {shortest:.0%}")


def test_there_are_single_choice_questions():
    assert len(SINGLE) >= 10, report()


def test_no_position_holds_too_many_right_answers():
    positions, _, _ = shares()
    crowded = {p: s for p, s in positions.items() if s > MAX_POSITION_SHARE}
    assert not crowded, (f"more than {MAX_POSITION_SHARE:.0%} of the right answers at "
                         f"{sorted(crowded)}: move some ({report()})")


def test_the_longest_option_is_rarely_the_right_one():
    _, longest, _ = shares()
    assert longest <= MAX_LONGEST_SHARE, (
        f"the longest option is the right one too often; give the wrong options the same "
        f"length and detail ({report()})")


def test_the_shortest_option_is_rarely_the_right_one():
    _, _, shortest = shares()
    assert shortest <= MAX_SHORTEST_SHARE, (
        f"the shortest option is the right one too often ({report()})")


@pytest.mark.parametrize("item", WITH_OPTIONS, ids=name)
def test_option_ids_read_a_b_c_in_the_order_shown(item):
    _, question = item
    ids = [option.id for option in question.options]
    assert ids == list(ascii_lowercase[:len(ids)]), (
        f"{question.id}: the ids are the labels the learner sees; write them in order, "
        f"got {ids}")


@pytest.mark.parametrize("item", WITH_OPTIONS, ids=name)
def test_every_wrong_option_says_why_it_is_wrong(item):
    _, question = item
    for option in question.options:
        if not option.correct:
            assert option.explanation.strip() and option.explanation != question.explanation, (
                f"{question.id}: option {option.id} needs its own hint")


@pytest.mark.parametrize("item", NUMERIC, ids=name)
def test_every_numeric_question_has_a_method_and_typical_mistakes(item):
    _, question = item
    assert question.method and question.method.strip(), (
        f"{question.id}: give a 'method', the hint for any wrong number")
    assert len(question.mistakes) >= 2, (
        f"{question.id}: list the typical wrong numbers in 'mistakes' (got "
        f"{[m.answer for m in question.mistakes]})")
    answers = [m.answer for m in question.mistakes]
    assert len(set(answers)) == len(answers), f"{question.id}: a mistake is listed twice"


@pytest.mark.parametrize("item", NUMERIC, ids=name)
def test_any_other_wrong_number_gets_the_direction_and_the_method(item):
    _, question = item
    listed = [m.answer for m in question.mistakes] + [question.answer]
    step = max(10 * question.tolerance, 1.0)
    for offset, direction in ((1, "too high"), (-1, "too low")):
        wrong = question.answer + offset * step
        while any(abs(wrong - value) <= question.tolerance + 1e-9 for value in listed):
            wrong += offset * step  # not one of the listed mistakes
        feedback = grade(question, wrong)
        assert not feedback.correct
        assert direction in feedback.explanation and question.method in feedback.explanation
