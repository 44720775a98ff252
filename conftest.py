"""Suite-wide rules: in CI (CI=true) a skipped test is a failure, and so is an empty run."""

from __future__ import annotations

import os

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not _in_ci():
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) were skipped; in CI every check must run "
            "(see the skip reasons above).", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.testscollected == 0:
        reporter.write_line("CI=true: no tests were collected.", red=True)
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
