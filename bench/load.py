"""Sustained load: a steady incident rate for a fixed time against broker instances in one
consumer group, each its own OS process (``python -m broker.cli up``, configured by
``ENCOMPASS_*`` variables as a deployment is), sharing one database (a SQLite file in WAL
mode, or PostgreSQL), on the real Kafka-protocol broker process. This process publishes the
incidents and runs the mail server (STARTTLS and AUTH, as a council's relay), which notes
when each e-mail arrived; the instances sign their e-mails with a DKIM key, as deployed.
Reports throughput, end-to-end latency (published -> e-mail accepted by the mail server)
p50/p99/max and the e-mails not sent in time, for SQLite and PostgreSQL side by side, with
the machine's load average and the benchmark's own rates (incidents published a second, the
mail server's accepted e-mails a second) as a baseline.

    python bench/load.py [--rate 20] [--seconds 30] [--databases sqlite,postgresql]
                         [--instances 2] [--smtp-tls starttls|none] [--no-dkim]

The instances are stopped (SIGTERM, then SIGKILL after 30 s) however the run ends, Ctrl-C
included; their logs (WARNING and above) are kept in the run's folder, named at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test CA lives in tests/

from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from broker.demo import PupilSeed, incident_stream
from broker.embedded import EmbeddedKafka, free_port
from broker.kafka_admin import ensure_topics
from broker.topics import Topics
from foundations.database import engine_for, read_only, session_factory, transaction, upgrade
from foundations.dkim import write_key
from foundations.key_material import new_key_spec
from foundations.logging import configure_logging
from foundations.models import Notification, Pupil
from foundations.settings import Settings
from school_directory import imports
from school_directory.synthetic import write_directory
from tests.smtp_server import make_test_ca

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SMTP_USER, SMTP_PASSWORD = "encompass-load", "load-password-not-secret"
ROOT = Path(__file__).resolve().parent.parent


class Arrivals:
    """An SMTP handler that notes when each notification's e-mail arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                self.at.setdefault(line.split("<", 1)[1].split("@", 1)[0], time.monotonic())
                break
        return "250 OK"


def authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


def mail_server(arrivals: Arrivals, work: Path, tls: str) -> tuple[Controller, dict[str, str]]:
    """The mail server and the settings that reach it."""
    port = free_port()
    if tls == "none":
        controller = Controller(arrivals, hostname="127.0.0.1", port=port)
        return controller, {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_tls": "none"}
    pki = make_test_ca(work / "pki")
    controller = Controller(
        arrivals,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        tls_context=pki.server_context(),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )
    return controller, {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(port),
        "smtp_tls": "starttls",
        "smtp_ca_file": str(pki.ca_cert),
        "smtp_username": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
    }


def postgres_url() -> tuple[str, str] | None:
    name = f"encompass_load_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        print(f"postgresql: skipped ({exc.__class__.__name__}: not reachable)")
        return None
    return f"postgresql://postgres@127.0.0.1:5432/{name}", name


def drop_postgres(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def released(sessions: sessionmaker[Session]) -> list[Any]:
    """The notifications that will produce an e-mail, with their incident ids."""
    with read_only(sessions) as session:  # no write lock: the instances' work goes on
        return list(
            session.execute(
                select(Notification.id, Notification.incident_id).where(
                    Notification.status.in_(("approved", "sending", "sent"))
                )
            ).all()
        )


class Instances:
    """Broker instances as child processes; ``stop`` ends them, however the run ends."""

    def __init__(self, work: Path, count: int, env: dict[str, str]) -> None:
        self.work = work
        self.count = count
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs = [work / f"instance-{i}" for i in range(count)]

    def start(self) -> None:
        for folder in self.dirs:
            folder.mkdir(parents=True, exist_ok=True)
            env = os.environ | self.env | {"ENCOMPASS_DATA_DIR": str(folder)}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
            with (folder / "broker.log").open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "broker.cli", "up"],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    async def ready(self, timeout: float = 120) -> None:
        """Each instance has started (it wrote its running.json)."""
        deadline = time.monotonic() + timeout
        while not all((d / "running.json").exists() for d in self.dirs):
            for proc, folder in zip(self.procs, self.dirs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"an instance ended at start: see {folder / 'broker.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"instances not started within {timeout:g} s")
            await asyncio.sleep(0.2)

    def cpu_s(self) -> float:
        return tree_cpu_s([proc.pid for proc in self.procs])

    def stop(self) -> None:
        """SIGTERM each (a clean stop), SIGKILL what is left after 30 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and their descendants
    (an intake's worker processes, say), from /proc; 0 where /proc is not there."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    wanted = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    total = sum(ticks.get(pid, 0) for pid in wanted)
    return total / os.sysconf("SC_CLK_TCK")


def instance_env(values: dict[str, str]) -> dict[str, str]:
    return {f"ENCOMPASS_{name.upper()}": value for name, value in values.items()}


async def run_one(
    database_url: str, kafka: EmbeddedKafka, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    rate, seconds = args.rate, args.seconds
    tag = uuid.uuid4().hex[:6]
    run_dir = work / tag
    run_dir.mkdir()
    arrivals = Arrivals()
    smtp, smtp_values = mail_server(arrivals, run_dir, args.smtp_tls)
    smtp.start()
    values = smtp_values | {
        "database_url": database_url,
        "kafka_bootstrap": kafka.bootstrap,
        "review_policy": "auto_release_exact",
        "incidents_topic": f"load.incidents.{tag}",
        "dlq_topic": f"load.dlq.{tag}",
        "audit_topic": f"load.audit.{tag}",
        "consumer_group": f"load-{tag}",
        "kafka_session_timeout_ms": "6000",
        "delivery_poll_s": "0.2",
        "console_enabled": "false",
        "internal_http_port": "0",
        "escalation_poll_s": "3600",
        "log_level": "WARNING",
        "log_format": "console",
        # One fresh data key and link secret for every instance (required for a shared
        # database), and the placeholder First Response address and loopback links a
        # benchmark runs with.
        "data_key": new_key_spec(),
        "secret_key": uuid.uuid4().hex + uuid.uuid4().hex,
        "allow_unsafe": "first_response_email,public_url",
    }
    if args.dkim:
        key = run_dir / "dkim.pem"
        write_key(key)
        values |= {"dkim_key_file": str(key), "dkim_selector": "load"}
    settings = Settings(data_dir=run_dir / "bench", **values)  # type: ignore[arg-type]
    upgrade(settings.resolved_database_url)
    engine = engine_for(settings)
    sessions = session_factory(engine)
    files = write_directory(
        run_dir / "directory", schools=max(50, args.pupils // 400), pupils=args.pupils
    )
    with transaction(sessions) as session:
        for kind in ("schools", "contacts", "pupils", "calendar"):
            getattr(imports, f"import_{kind}")(session, getattr(files, kind))
        seeds = [
            PupilSeed(p.given_names, p.family_name, p.preferred_name, p.date_of_birth, p.postcode)
            for p in session.execute(
                select(Pupil).where(Pupil.on_roll_until.is_(None)).limit(3000)
            ).scalars()
        ]
    await ensure_topics(kafka.bootstrap, Topics.from_settings(settings).all(), 3)
    instances = Instances(run_dir, args.instances, instance_env(values))
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    published: dict[str, float] = {}
    expected: list[Any] = []
    errors = 0
    try:
        instances.start()
        await instances.ready()
        await asyncio.sleep(4)  # all in the group before the clock starts
        await producer.start()
        count = int(rate * seconds)
        stream = incident_stream(seeds, count, unknown_rate=0.0, typo_rate=0.0)
        load_start = os.getloadavg()
        cpu_start = time.process_time()
        instances_start = instances.cpu_s()
        started = time.monotonic()
        for i, incident in enumerate(stream):
            target = started + i / rate
            await asyncio.sleep(max(0.0, target - time.monotonic()))
            try:
                await producer.send_and_wait(
                    settings.incidents_topic,
                    json.dumps(incident).encode(),
                    key=incident["incident_id"].encode(),
                )
                published[incident["incident_id"]] = time.monotonic()
            except Exception:
                errors += 1
        publish_s = time.monotonic() - started
        load_published = os.getloadavg()
        # Wait for the e-mails the released notifications will produce.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # On a worker thread: the event loop (and the mail server's arrivals, on their
            # own thread) must not wait for the database.
            expected = await asyncio.to_thread(released, sessions)
            if expected and all(nid in arrivals.at for nid, _ in expected):
                break
            await asyncio.sleep(0.5)
        done_s = time.monotonic() - started
        bench_cpu = time.process_time() - cpu_start
        instances_cpu = instances.cpu_s() - instances_start
    finally:
        await producer.stop()
        await asyncio.to_thread(instances.stop)
        smtp.stop()
        engine.dispose()
    latencies = sorted(
        arrivals.at[nid] - published[iid]
        for nid, iid in expected
        if nid in arrivals.at and iid in published
    )
    missing = sum(1 for nid, _ in expected if nid not in arrivals.at)
    times = sorted(arrivals.at.values())
    accept_s = (times[-1] - times[0]) if len(times) > 1 else 0.0

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0

    return {
        "db": database_url.split(":", 1)[0],
        "incidents": len(published),
        "rate_offered": len(published) / publish_s,
        "emails": len(latencies),
        "throughput": len(latencies) / done_s,
        "accept_rate": (len(times) - 1) / accept_s if accept_s else 0.0,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": latencies[-1] if latencies else 0,
        "mean": statistics.fmean(latencies) if latencies else 0,
        "errors": errors + missing,
        "load": (load_start, load_published, os.getloadavg()),
        "cpu_ms": 1000 * instances_cpu / max(1, len(published)),
        "cores": instances_cpu / done_s,
        "bench_cpu_ms": 1000 * bench_cpu / max(1, len(published)),
        "logs": run_dir,
    }


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "WARNING")
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # the mail server's notices
    work = Path(tempfile.mkdtemp(prefix="encompass-load-"))
    results = []
    with EmbeddedKafka(log_file=work / "kafka.log") as kafka:
        for db in args.databases.split(","):
            name = None
            if db == "sqlite":
                url = f"sqlite:///{work / 'load.db'}"
            else:
                made = postgres_url()
                if made is None:
                    continue
                url, name = made
            try:
                results.append(await run_one(url, kafka, work, args))
            finally:
                if name is not None:
                    drop_postgres(name)
    mode = f"SMTP {args.smtp_tls}{' + AUTH' if args.smtp_tls != 'none' else ''}"
    print(
        f"\n{args.rate:g} incidents/s offered for {args.seconds:g} s, {args.instances} instances "
        f"(one process each), one consumer group; {mode}, DKIM {'on' if args.dkim else 'off'}; "
        "latency = published -> e-mail accepted by the mail server"
    )
    print(
        f"{'database':<11}{'incidents':>10}{'e-mails':>9}{'e-mails/s':>11}"
        f"{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'errors':>8}"
    )
    for r in results:
        print(
            f"{r['db']:<11}{r['incidents']:>10}{r['emails']:>9}{r['throughput']:>11.1f}"
            f"{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}{r['errors']:>8}"
        )
    print("errors: e-mails not sent within 120 s of the last incident, and failed publishes")
    for r in results:
        loads = " -> ".join(f"{a[0]:.2f}" for a in r["load"])
        print(
            f"{r['db']}: published {r['rate_offered']:.1f} incidents/s; mail server accepted "
            f"{r['accept_rate']:.1f} e-mails/s (first to last); CPU per incident: instances "
            f"{r['cpu_ms']:.1f} ms (to the last e-mail or 120 s: "
            f"{r['cores']:.2f} cores), this process {r['bench_cpu_ms']:.1f} ms; "
            f"load average (1 min) at start -> end of publishing -> end: {loads}; "
            f"logs {r['logs']}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="incidents per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--instances", type=int, default=2, help="broker processes")
    parser.add_argument("--smtp-tls", choices=("starttls", "none"), default="starttls")
    parser.add_argument("--no-dkim", dest="dkim", action="store_false", help="do not sign")
    # SIGTERM as Ctrl-C: the run's tasks are cancelled, so the instances are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(130)
