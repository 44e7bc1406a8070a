"""The documentation a clone carries: every relative link in the README and docs/ points at
a file in the repository (the contract included: docs/spec.md), never outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_relative_link_resolves_inside_the_repository() -> None:
    broken = []
    for doc in _documents():
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_contract_is_in_the_repository_and_the_readme_points_at_it() -> None:
    assert (ROOT / "docs" / "spec.md").read_text(encoding="utf-8").count("police.incidents.v1")
    assert "](docs/spec.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
