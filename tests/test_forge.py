"""What a maintainer or a fork expects at the door: the forge's CI workflow runs the same
``bash .ci/run`` as every CI of the course, the licences are stated, and the course can be
cited with the version it ships."""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
AUTHORS = "The authors of Attention, from memory to Transformers"


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def job(workflow: dict) -> dict:
    jobs = workflow["jobs"]
    assert len(jobs) == 1, f"one job, the one `bash .ci/run` runs in; found {sorted(jobs)}"
    return next(iter(jobs.values()))


# --------------------------------------------------------------------------- the workflow
def test_workflow_runs_on_every_push_and_pull_request(workflow: dict) -> None:
    # YAML 1.1 (PyYAML) reads the bare key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    if isinstance(triggers, str):
        triggers = [triggers]
    assert "push" in triggers and "pull_request" in triggers, triggers
    if isinstance(triggers, dict):  # no branch or path filter: every push, every PR
        assert not triggers["push"] and not triggers["pull_request"], triggers


def test_workflow_runs_in_debian_bookworm_with_python_311(job: dict) -> None:
    container = job["container"]
    image = container["image"] if isinstance(container, dict) else container
    assert re.fullmatch(r"python:3\.11(\.\d+)?-bookworm", image), image


def test_workflow_runs_ci_run_and_nothing_else(job: dict) -> None:
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["bash .ci/run"], f"the job must run exactly `bash .ci/run`, found {runs}"


def test_workflow_sets_ci_and_the_ci_time_limit(job: dict) -> None:
    assert str(job["env"]["CI"]).lower() == "true"
    assert job["timeout-minutes"] == 90


def test_workflow_caches_pip_on_the_pinned_files(job: dict) -> None:
    [cache] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == job["env"]["PIP_CACHE_DIR"]
    key = cache["with"]["key"]
    for pinned in ("pyproject.toml", "constraints.txt"):
        assert f"'{pinned}'" in key, f"the cache key must change with {pinned}: {key}"


def test_workflow_uploads_the_browser_artifacts_only_on_failure(job: dict) -> None:
    steps = job["steps"]
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    condition = str(upload.get("if", "")).replace("${{", "").replace("}}", "").strip()
    assert condition == "failure()", f"upload only on failure, found if: {condition!r}"
    assert steps.index(upload) > next(i for i, s in enumerate(steps) if "run" in s)
    # The folder uploaded is the one the browser test writes to (tests/browser/conftest.py).
    assert upload["with"]["path"] == job["env"]["COURSE_BROWSER_ARTIFACTS"]
    assert "COURSE_BROWSER_ARTIFACTS" in (REPO / "tests/browser/conftest.py").read_text()


# --------------------------------------------------------------------------- licences
def test_licence_is_mit_as_pyproject_says(project: dict) -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License"), text[:80]
    assert "Permission is hereby granted, free of charge" in text
    assert f"Copyright (c) 2026 {AUTHORS}" in text
    declared = project["license"]
    declared = declared["text"] if isinstance(declared, dict) else declared
    assert declared == "MIT"


def test_content_licence_names_cc_by_4() -> None:
    text = (REPO / "LICENSE-CONTENT").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text
    assert "https://creativecommons.org/licenses/by/4.0/" in text
    assert "MIT" in text and "LICENSE" in text


# --------------------------------------------------------------------------- citation
def test_citation_file_is_complete_and_current(project: dict) -> None:
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    for field in ("cff-version", "message", "title", "authors", "type", "license", "version",
                  "date-released", "abstract"):
        assert cff.get(field), f"CITATION.cff lacks {field}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert cff["authors"] == [{"name": AUTHORS}]
    assert cff["license"] == "MIT"
    assert str(cff["version"]) == project["version"]
    assert datetime.date.fromisoformat(str(cff["date-released"])) == datetime.date(2026, 12, 7)
    assert cff["title"] in project["description"]
