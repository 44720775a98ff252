"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from course_utils.translation import ToyTranslation

# The maintainers' tools (tools/*.py: slides, site, vendored files) are scripts, not a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

# The tests never touch a learner's own progress file: this process and every one it starts
# (notebook kernels, the JupyterLab server of the browser test) record into a throwaway one.
os.environ.setdefault("COURSE_PROGRESS_FILE", str(
    Path(tempfile.mkdtemp(prefix="course-progress-")) / "progress.json"))


@pytest.fixture(scope="module")
def task() -> ToyTranslation:
    """Chapter 02's toy language pair (lexicon fixed by seed 0)."""
    return ToyTranslation(seed=0)


@pytest.fixture
def _restore_determinism():
    """Training helpers call set_seed, which switches a global flag on; give the other tests
    the state they had."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course site as ``make site`` builds it (chapters, decks, glossary, guide), in a
    temporary folder; built once for the unit tests and the browser test."""
    import build_site

    out = tmp_path_factory.mktemp("built") / "site"
    build_site.build(out)
    return out
