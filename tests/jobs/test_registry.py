"""Registering job bodies by name, and loading the modules that hold them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.config import ConfigError
from modelyard.jobs import JobContext, job_task
from modelyard.jobs.registry import get_body, load_task_modules
from tests.jobs import tasks


def test_bodies_are_found_by_their_stable_name() -> None:
    assert get_body("tests.add") is tasks.add
    assert get_body("tests.nothing") is None


@pytest.mark.parametrize("kind", ["add", "Tests.Add", "tests.", "tests..add", "x." + "a" * 100])
def test_kind_names_are_dotted_lowercase(kind: str) -> None:
    with pytest.raises(ValueError, match=r"domain\.name"):
        job_task(kind)


def test_one_name_cannot_hold_two_bodies() -> None:
    def other(ctx: JobContext) -> None:
        return None

    with pytest.raises(ValueError, match="already registered"):
        job_task("tests.add")(other)
    assert get_body("tests.add") is tasks.add


def test_registering_the_same_body_again_is_harmless() -> None:
    assert job_task("tests.add")(tasks.add) is tasks.add


def test_a_missing_task_module_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"tests\.jobs\.no_such_module"):
        load_task_modules(["tests.jobs.no_such_module"])


def test_celery_is_imported_only_when_used() -> None:
    # Celery is an optional extra: the embedded setup must not need it.
    code = (
        "import sys; import modelyard.jobs.executors, modelyard.jobs.service, "
        "modelyard.jobs.router; sys.exit('celery' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run([sys.executable, "-c", code], cwd=root, check=False, timeout=60)
    assert completed.returncode == 0
