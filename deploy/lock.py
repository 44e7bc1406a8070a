"""The dependency locks: every package pinned, with the hashes of its files.

    python deploy/lock.py           # write requirements.lock and requirements-runtime.lock
    python deploy/lock.py --check   # exit 1 when a lock no longer matches pyproject.toml

``requirements-runtime.lock`` is what the broker needs (the Dockerfile, a demo install);
``requirements.lock`` adds the ``test`` extra (CI, development). Both are made by uv
(``pip install uv``) for Python 3.11 on every platform (``--universal``), and each begins
with the SHA-256 of the requirements it was made from. ``--check`` needs no network: a lock
is out of date when pyproject.toml's requirements changed since (the digest), or when a
direct requirement is missing from it or pinned outside its range. Install with
``pip install --require-hashes -r requirements.lock`` and then ``pip install --no-deps -e .``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"requirements-runtime.lock": [], "requirements.lock": ["test"]}
DIGEST = re.compile(r"^# requirements-sha256: ([0-9a-f]{64})$", re.M)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = list(project["dependencies"])
    for extra in extras:
        found += project["optional-dependencies"][extra]
    return found


def digest(extras: list[str]) -> str:
    text = json.dumps(sorted(requirements(extras)), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write() -> None:
    for name, extras in LOCKS.items():
        options = [f"--extra={e}" for e in extras]
        subprocess.run(
            ["uv", "pip", "compile", "pyproject.toml", *options, "--generate-hashes",
             "--universal", "--python-version=3.11", "--no-header", "--quiet",
             "--output-file", name],
            cwd=ROOT,
            check=True,
        )  # fmt: skip
        lock = ROOT / name
        header = (
            f"# {name}: made by `python deploy/lock.py` from pyproject.toml; do not edit.\n"
            f"# requirements-sha256: {digest(extras)}\n"
        )
        lock.write_text(header + lock.read_text())
        print(f"wrote {name}")


def problems(name: str, extras: list[str]) -> list[str]:
    lock = ROOT / name
    if not lock.exists():
        return [f"{name} is missing: run `python deploy/lock.py`"]
    text = lock.read_text()
    found = DIGEST.search(text)
    out: list[str] = []
    if found is None or found.group(1) != digest(extras):
        out.append(f"{name} was made from other requirements than pyproject.toml's")
    pins = {canonicalize_name(n): v for n, v in PIN.findall(text)}
    env = default_environment() | {"python_version": "3.11", "extra": ""}
    for line in requirements(extras):
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            out.append(f"{name} does not pin {req.name}")
        elif not req.specifier.contains(pinned, prereleases=True):
            out.append(f"{name} pins {req.name}=={pinned}, outside {req.specifier}")
    if "--hash=sha256:" not in text:
        out.append(f"{name} carries no hashes")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; write nothing")
    if not parser.parse_args().check:
        write()
    found = [p for name, extras in LOCKS.items() for p in problems(name, extras)]
    for problem in found:
        print(f"lock out of date: {problem}", file=sys.stderr)
    if found:
        print("run `pip install uv && python deploy/lock.py`, then commit", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
