"""The intake's second core: the pure part of minimising (the redaction of the officer's
account, of the child's voice and of unknown police codes, and the residual check of each)
computed in worker processes while the batch's transaction matches and writes.

``precompute(incident)`` is a pure function of the incident: for each child, every call
``consumers.minimise`` and ``consumers.held_account.screen`` make to ``redact`` and
``residual_check`` that depends only on the incident and the child, keyed by its text.
The intake (``consumers.intake_batch``) submits each accepted incident of a batch to the
pool before its transaction starts, and hands the batch's memo (``consumers.batch_memo``)
to the transaction, which takes a result only when it needs that child's.

``ENCOMPASS_INTAKE_WORKERS`` processes (0: no pool, everything in process, as before),
started with the ``forkserver`` method (``spawn`` where there is none), never ``fork``: the
broker has threads. Each worker loads the language model and the name lists when it starts
(``warm_up``), and the pool waits for that at the broker's start.

Failing closed without failing late: a result that fails (an error in a worker, a worker
killed, the pool broken) or is late is computed in process, with the same result; a
warning without personal data is logged and counted
(``encompass_intake_pool_fallbacks_total``), and a broken pool is replaced. A pool that
keeps breaking is given up (``MAX_RESTARTS`` in a row) and the intake goes on in process.
No event is ever lost or dead-lettered because of the pool.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import structlog

from consumers import residual
from consumers.batch_memo import BatchMemo, ChildWork
from consumers.minimise import NO_ACCOUNT, POLICE_ACTIONS, humanised, trimmed
from consumers.redact import redact
from consumers.residual import residual_check
from schemas.incident import PoliceIncident

log = structlog.get_logger(__name__)

MAX_RESTARTS = 3  # broken pools in a row before the intake gives the pool up
START_TIMEOUT_S = 300.0  # for the workers to load the model at the broker's start
_EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"
_EXAMPLE = _EXAMPLES / "incident_two_children.json"


def child_work(incident: PoliceIncident, child: Any) -> ChildWork:
    """What minimising and screening ``child`` will ask of ``redact`` and
    ``residual_check``, computed now, by the same functions on the same arguments."""
    redacted: dict[str, str] = {}
    checked: dict[str, tuple[Any, ...]] = {}

    def r(text: str) -> str:
        if text not in redacted:
            redacted[text] = redact(text, incident, child)
        return redacted[text]

    def c(text: str) -> None:
        if text not in checked:
            checked[text] = tuple(residual_check(text, incident, child))

    # minimise._account, then screen's check of it
    account = trimmed(r(incident.summary) if incident.summary.strip() else "")
    if account != NO_ACCOUNT:
        c(account)
    # minimise's voice_of_child (when the profile includes it), then screen's check of it
    voice = child.voice_of_child
    if voice and voice.strip():
        said = r(voice)
        if said:
            c(said)
    # police_actions_in_plain_words' unknown codes, then screen's check of each
    plain = set(POLICE_ACTIONS.values())
    for raw in incident.police_actions:
        code = raw.strip()
        words = humanised(code) if code not in POLICE_ACTIONS else None
        if words is not None:
            said = r(words)
            if said not in plain:
                c(said)
    return ChildWork(child=child, redacted=redacted, checked=checked)


def precompute(incident: PoliceIncident) -> dict[str, ChildWork]:
    """For each child of the incident, by person_id: ``child_work``."""
    return {child.person_id: child_work(incident, child) for child in incident.children}


def ahead(incidents: Iterable[PoliceIncident]) -> BatchMemo:
    """The batch's memo computed now, in this thread: for an intake without a pool, called
    before its transaction's first statement, so that SQLite's write lock (taken at the
    transaction's BEGIN) is not held while the accounts are redacted and checked. An
    incident whose work raises is left to the transaction, which meets the same error in
    the same place as without the memo."""
    memo = BatchMemo()
    for incident in incidents:
        future: Future[dict[str, ChildWork]] = Future()
        try:
            future.set_result(precompute(incident))
        except Exception as exc:
            future.set_exception(exc)
        memo.add(incident, future)
    return memo


def warm_up() -> None:
    """In each worker as it starts: the language model, the word and name lists, the
    redactor's patterns (one synthetic incident), so that no batch pays for them."""
    residual.warm_up()
    try:
        example = PoliceIncident.model_validate_json(_EXAMPLE.read_bytes())
    except OSError:  # pragma: no cover - an installation without the examples
        return
    precompute(example)


def _ready() -> int:
    return os.getpid()


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# ``on_fallback(why)``: "error", "broken", "timeout" or "submit", for the metrics.
OnFallback = Callable[[str], None]


class IntakePool:
    """The worker processes of one broker's intake; ``workers`` >= 1."""

    def __init__(self, workers: int, on_fallback: OnFallback | None = None) -> None:
        if workers < 1:
            raise ValueError("an intake pool has at least one worker (0 means no pool)")
        self.workers = workers
        self.on_fallback = on_fallback
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._broken_in_a_row = 0
        self.given_up = False
        self.stopped = False
        self.pids: set[int] = set()
        self.served = 0  # incidents whose pure work the pool did
        self.taken_back = 0  # incidents the intake's thread did itself, the pool behind

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=warm_up)

    def start(self) -> None:
        """Start every worker and wait until each has loaded what it needs (blocking: the
        broker calls it on a worker thread at its start)."""
        with self._lock:
            self.stopped = False
            if self._executor is None:
                self._executor = self._new_executor()
            executor = self._executor
        futures = [executor.submit(_ready) for _ in range(self.workers)]
        done, _ = wait(futures, timeout=START_TIMEOUT_S)
        self.pids = {f.result() for f in done if f.exception() is None}
        log.info("intake_pool_started", workers=self.workers, ready=len(self.pids))

    def stop(self) -> None:
        """Stop the workers (the broker's stop, after the batch in hand); a batch that
        comes after this is computed in process, and no worker is started again."""
        with self._lock:
            self.stopped = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            log.info("intake_pool_stopped", workers=self.workers)

    def submit(self, incidents: Iterable[PoliceIncident]) -> BatchMemo:
        """The batch's memo, each incident already submitted to the workers."""
        with self._lock:
            if self.given_up or self.stopped:
                return BatchMemo()
            if self._executor is None:
                self._executor = self._new_executor()
            executor = self._executor

        def failed(why: str, exc: BaseException) -> None:
            self._failed(why, exc, executor)

        memo = BatchMemo(failed, on_result=self._succeeded, on_close=self._closed)
        for incident in incidents:
            try:
                future: Future[dict[str, ChildWork]] = executor.submit(precompute, incident)
            except Exception as exc:  # broken or shut down: this batch goes in process
                failed("submit", exc)
                break
            memo.add(incident, future)
        return memo

    def _failed(self, why: str, exc: BaseException, executor: ProcessPoolExecutor) -> None:
        """Called from the batch's thread: a result computed in process instead. The type
        of the error only: its message could quote the incident."""
        log.warning("intake_pool_fallback", why=why, error=type(exc).__name__)
        if self.on_fallback is not None:
            self.on_fallback(why)
        if why in {"broken", "submit"}:
            self._replace(executor)

    def _closed(self, memo: BatchMemo) -> None:
        self.served += memo.served
        self.taken_back += memo.taken_back

    def _succeeded(self) -> None:
        self._broken_in_a_row = 0

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new pool for the next batch (the broken one's futures have all failed)."""
        with self._lock:
            if self._executor is not broken:  # already replaced, or stopped
                return
            self._executor = None
            self._broken_in_a_row += 1
            if self._broken_in_a_row > MAX_RESTARTS:
                self.given_up = True
                log.error("intake_pool_given_up", restarts=MAX_RESTARTS)
            else:
                log.warning("intake_pool_replaced", in_a_row=self._broken_in_a_row)
        broken.shutdown(wait=False, cancel_futures=True)
