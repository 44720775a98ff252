"""course_utils.learner.notebook_tools: the timing helper, small() and the length table print
exactly what the chapters' saved outputs show."""

from __future__ import annotations

import pytest

from course_utils.learner import notebook_tools
from course_utils.learner.notebook_tools import best_time, length_table, small


class FakeClock:
    """A perf_counter that moves only when the timed call says how long it took."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations, self.calls = 100.0, list(durations), []

    def __call__(self) -> float:
        return self.now

    def work(self, *args, **kwargs) -> str:
        self.calls.append((args, kwargs))
        self.now += self.durations.pop(0)
        return "dropped"


def test_best_time_is_the_fastest_of_repeat_runs(monkeypatch):
    clock = FakeClock([0.5, 0.125, 0.25, 2.0])
    monkeypatch.setattr(notebook_tools, "perf_counter", clock)
    assert best_time(clock.work, 1, "x", repeat=4, key=3) == 0.125
    assert clock.calls == [((1, "x"), {"key": 3})] * 4


def test_best_time_runs_five_times_by_default_and_once_when_asked(monkeypatch):
    clock = FakeClock([3.0, 2.0, 4.0, 1.0, 5.0, 7.0])
    monkeypatch.setattr(notebook_tools, "perf_counter", clock)
    assert best_time(clock.work) == 1.0
    assert best_time(clock.work, repeat=1) == 7.0
    assert len(clock.calls) == 6 and not clock.durations


@pytest.mark.parametrize("repeat", [0, -1, 2.0, True])
def test_best_time_names_a_bad_repeat(repeat):
    with pytest.raises(ValueError, match="^repeat"):
        best_time(lambda: None, repeat=repeat)


@pytest.mark.parametrize(("error", "bound", "text"), [
    (3e-8, 1e-6, "< 1e-06"),
    (0.0, 1e-6, "< 1e-06"),
    (1e-6, 1e-6, "1.0e-06"),             # not below the bound: the error itself
    (3.14159e-5, 1e-6, "3.1e-05"),
    (2e-6, 1e-5, "< 1e-05"),
    (1e-13, 1e-12, "< 1e-12"),
    (5e-5, 1e-4, "< 1e-04"),
    (2.5e-4, 1e-4, "2.5e-04"),
    (3e-8, "1e-6", "< 1e-6"),            # a bound given as text prints as written
    (2.5e-6, "1e-6", "2.5e-06"),
])
def test_small(error, bound, text):
    assert small(error, bound) == text


def test_small_default_bound():
    assert small(1e-9) == "< 1e-06"


def test_length_table_in_chapter_02s_layout():
    results = {"none": {"3–10": (0.54, 0.77), "11–20": (0.0, 0.33)},
               "additive": {"3–10": (0.99, 0.99), "11–20": (0.95, 0.98)}}
    table = length_table(results, "exact match / token accuracy by source length",
                         name_width=9, label_width=16, exact_width=9, token_width=3)
    assert table == (
        "exact match / token accuracy by source length\n"
        "                     3–10           11–20\n"
        "none           54% / 77%       0% / 33%\n"
        "additive       99% / 99%      95% / 98%")


def test_length_table_in_chapter_10s_layout_with_row_names():
    results = {"rnn": {"21–30": (0.99, 1.0), "31–40": (0.63, 0.89)},
               "tf": {"21–30": (0.92, 0.99), "31–40": (0.0, 0.11)}}
    names = {"rnn": "RNN + attention", "tf": "Transformer, equal steps"}
    assert length_table(results, "test", names=names) == (
        "test\n"
        "                                   21–30         31–40\n"
        "RNN + attention               99% / 100%    63% /  89%\n"
        "Transformer, equal steps      92% /  99%     0% /  11%")


def test_length_table_of_nothing_is_its_title_and_an_empty_heading():
    assert length_table({}, "title") == "title\n  "
