"""Every dependency is locked with the hashes of its files (issue 13, defect 8): CI, the
README and the image install from the locks, and CI fails when a lock no longer matches
pyproject.toml."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_lock", ROOT / "deploy" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_lock"] = module
    spec.loader.exec_module(module)
    return module


def test_the_locks_match_pyproject_and_carry_hashes(lock: ModuleType) -> None:
    for name, extras in lock.LOCKS.items():
        assert lock.problems(name, extras) == [], name
        text = (ROOT / name).read_text()
        pins = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
        assert pins and text.count("--hash=sha256:") >= len(pins)


def test_a_requirement_added_without_relocking_fails_the_check(
    lock: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = lock.requirements
    monkeypatch.setattr(lock, "requirements", lambda extras: [*real(extras), "leftpad>=1"])
    found = lock.problems("requirements-runtime.lock", [])
    assert any("other requirements" in p for p in found)
    assert any("does not pin leftpad" in p for p in found)


def test_a_pin_outside_its_range_fails_the_check(
    lock: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = lock.requirements
    bumped = [r if not r.startswith("pydantic>=") else "pydantic>=9" for r in real([])]
    monkeypatch.setattr(lock, "requirements", lambda extras: bumped)
    assert any("outside" in p for p in lock.problems("requirements-runtime.lock", []))


def test_ci_the_readme_and_the_image_install_from_the_locks() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    image = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in ci and "lock.py --check" in ci
    assert "--require-hashes -r requirements.lock" in readme
    assert "--require-hashes -r requirements-runtime.lock" in readme
    assert "--require-hashes -r requirements-runtime.lock" in image


def test_every_dependency_has_an_upper_bound(lock: ModuleType) -> None:
    from packaging.requirements import Requirement

    unbounded = [
        r
        for r in lock.requirements(["test"])
        if not any(s.operator in ("<", "<=", "==", "~=") for s in Requirement(r).specifier)
        and not r.startswith("tzdata")  # time-zone data: every new release is wanted
    ]
    assert unbounded == []
