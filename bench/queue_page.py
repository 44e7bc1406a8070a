"""How long does the review queue take to serve when thousands of notifications wait?

Seeds a synthetic Monday queue through the real pipeline (``tests/queue_seed.py``: sure
matches, twins, children not found, officers' accounts held, updates; 5,000 by default),
signs a reviewer in, and times the console serving pages in-process (FastAPI's test
client: the server's own time, no network), with a baseline measured in the same run:
``/healthz``, and the queue filtered down to nothing. Each page is asked for ``--runs``
times after two warm-up requests; the median and the 95th percentile are printed.

The target (issue 15, issue 16): the queue's first page in under 300 ms with 5,000 pending.
Sorting or searching by the child's name or age decrypts every filtered police record,
and is printed apart as the slower way through.

    python bench/queue_page.py [--pending 5000] [--runs 25] [--database-url sqlite:///...]

(Not ``bench/queue.py``: run as a script, that name would hide the standard library's
``queue`` module from everything the console imports.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the seed lives in tests/

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from console.accounts import add_user
from console.app import create_app
from foundations.crypto import keyring_from_material
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import UNSENT_STATUSES, Notification
from foundations.settings import Settings
from tests.console_signin import post_login
from tests.queue_seed import MONDAY_0730, seed_queue

PASSWORD = "a long enough password"  # noqa: S105 - a synthetic reviewer
PAGES = {
    "baseline: /healthz": "/healthz",
    "baseline: the queue filtered to nothing": "/queue?status=failed",
    "queue, first page (most urgent first)": "/queue",
    "queue, page 60 (deep)": "/queue?page=60",
    "queue, sorted by risk": "/queue?sort=risk",
    "queue, sorted by school": "/queue?sort=school",
    "queue, sorted by why it waits": "/queue?sort=why&order=desc",
    "queue, twins only": "/queue?why=twins",
    "slower way: sorted by the child's name": "/queue?sort=child",
    "slower way: sorted by age": "/queue?sort=age",
    "slower way: a child's name searched": "/queue?child=ash",
}


def mix_for(pending: int) -> dict[str, int]:
    """A Monday's shares: 55 % sure matches, 12 % twins, 13 % not found, 12 % accounts
    held, 8 % updates."""
    shares = {"twins": 0.12, "not_found": 0.13, "account_held": 0.12, "update": 0.08}
    mix = {kind: int(pending * share) for kind, share in shares.items()}
    return {"release_grade": pending - sum(mix.values()), **mix}


def timed(client: TestClient, path: str, runs: int) -> list[float]:
    for _ in range(2):
        assert client.get(path).status_code == 200, path
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    url = args.database_url or f"sqlite:///{folder / 'queue.db'}"
    upgrade(url)
    engine = make_engine(url, keyring_from_material([("b1", b"\x02" * 32)]))
    sessions = session_factory(engine)
    settings = Settings(data_dir=folder, secret_key="k" * 32, public_url="https://console.example")
    start = time.perf_counter()
    seed_queue(sessions, settings, folder / "directory", mix_for(args.pending))
    with transaction(sessions) as session:
        add_user(session, "rita", "reviewer", PASSWORD, actor="bench")
        unsent = Notification.status.in_([s.value for s in UNSENT_STATUSES])
        pending = session.execute(select(func.count()).where(unsent)).scalar_one()
    print(f"seeded {pending} pending notifications through the pipeline "
          f"in {time.perf_counter() - start:.0f} s ({url.split(':', 1)[0]})")  # fmt: skip
    app = create_app(settings, sessions, clock=lambda: MONDAY_0730)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert post_login(client, {"username": "rita", "password": PASSWORD}).status_code == 303
        print(f"\n{'page':<44} {'median ms':>10} {'p95 ms':>8}   ({args.runs} requests each)")
        for name, path in PAGES.items():
            times = timed(client, path, args.runs)
            print(f"{name:<44} {statistics.median(times):>10.1f} {p95(times):>8.1f}")
    engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pending", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    main(parser.parse_args())
