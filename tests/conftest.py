"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from course_utils.translation import ToyTranslation


@pytest.fixture(scope="module")
def task() -> ToyTranslation:
    """Chapter 02's toy language pair (lexicon fixed by seed 0)."""
    return ToyTranslation(seed=0)
