"""Write the committed JSON Schema of police.incident/1: ``python -m schemas.generate``."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.incident import incident_json_schema

TARGET = Path(__file__).parent / "police.incident.1.json"


def main() -> None:
    TARGET.write_text(json.dumps(incident_json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
