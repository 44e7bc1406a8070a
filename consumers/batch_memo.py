"""The intake batch's memo of the pure work: what ``redact`` and ``residual_check`` return
for an incident and a child, computed ahead by the intake's process pool
(``consumers.intake_pool``) while the batch's transaction matches and writes.

The call sites (``consumers.minimise``, ``consumers.held_account``) ask ``redacted`` and
``checked``, never the pool: with no memo set (no pool configured, the CLI, a test, an
event taken alone), or when the memo has nothing for exactly this text, this incident
object and this child, they call ``redact`` and ``residual_check`` in process, as before.
One code path; the pool only ever saves the time of a call.

Keyed so that a stale or foreign result cannot be used: the memo holds the very incident
object it was given (a frozen model, kept alive for the batch) and answers only for that
object (``is``, not an id that could be reused or an incident_id that a revision shares),
for a child equal in every field to the one the pool computed for, and for the same text.
A pool that fails, is broken or is slow is a miss: the call is made in process and gives
the same result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from consumers.redact import redact
from consumers.residual import residual_check
from consumers.residual_suspect import Suspect
from schemas.incident import Person, PoliceIncident
from school_directory.matching import MatchResult

# How long the intake waits for a result the pool has started on before computing it in
# process (the same result): far more than an incident takes; a hung worker costs this once.
WAIT_S = 20.0


@dataclass(frozen=True)
class ChildWork:
    """For one child of one incident: what the pure calls returned, by their text."""

    child: Person
    redacted: dict[str, str] = field(default_factory=dict)
    checked: dict[str, tuple[Suspect, ...]] = field(default_factory=dict)


# ``on_failure(why, exc)``: why is "error", "broken" or "timeout"; called once per failure.
OnFailure = Callable[[str, BaseException], None]


class _Entry:
    def __init__(self, incident: PoliceIncident, future: Future[dict[str, ChildWork]]) -> None:
        self.incident = incident
        self.future = future
        self.done: dict[str, ChildWork] | None = None
        self.failed = False


class BatchMemo:
    """The pool's results for one batch, each consulted only by the batch's own thread."""

    def __init__(
        self,
        on_failure: OnFailure | None = None,
        on_result: Callable[[], None] | None = None,
        on_close: Callable[[BatchMemo], None] | None = None,
    ) -> None:
        self._entries: dict[int, _Entry] = {}
        self.served = 0  # incidents whose results came from the pool
        self.taken_back = 0  # not started by the pool when needed: done in process
        self._on_failure = on_failure
        self._on_result = on_result
        self._on_close = on_close
        self._lock = threading.Lock()

    def add(self, incident: PoliceIncident, future: Future[dict[str, ChildWork]]) -> None:
        with self._lock:
            self._entries[id(incident)] = _Entry(incident, future)

    def __len__(self) -> int:
        return len(self._entries)

    def settle(self, timeout: float | None = None) -> None:
        """Wait until the pool has finished every incident (for tests and benchmarks: the
        intake itself never waits for what it does not need)."""
        wait([e.future for e in self._entries.values()], timeout=timeout)

    def close(self) -> None:
        """The batch is over: what the pool has not started is cancelled; nothing is kept."""
        with self._lock:
            entries, self._entries = self._entries, {}
        for entry in entries.values():
            entry.future.cancel()
        if self._on_close is not None:
            self._on_close(self)

    def lookup(self, incident: PoliceIncident, child: Person) -> ChildWork | None:
        with self._lock:
            entry = self._entries.get(id(incident))
        if entry is None or entry.incident is not incident:
            return None
        results = self._results(entry)
        work = results.get(child.person_id) if results is not None else None
        if work is None or work.child != child:
            return None
        return work

    def _results(self, entry: _Entry) -> dict[str, ChildWork] | None:
        if entry.done is not None or entry.failed:
            return entry.done
        if entry.future.cancel():  # not started: the pool is behind, this thread does it
            entry.failed = True
            self.taken_back += 1
            return None
        try:
            entry.done = entry.future.result(timeout=WAIT_S)
            self.served += 1
            if self._on_result is not None:
                self._on_result()
        except FutureTimeout as exc:
            entry.failed = True
            self._failed("timeout", exc)
        except BaseException as exc:  # a broken pool, a killed worker, an error in it
            entry.failed = True
            self._failed("broken" if isinstance(exc, BrokenProcessPool) else "error", exc)
        return entry.done

    def _failed(self, why: str, exc: BaseException) -> None:
        if self._on_failure is not None:
            self._on_failure(why, exc)


V = TypeVar("V")
_MEMO: ContextVar[BatchMemo | None] = ContextVar("intake_batch_memo", default=None)


@contextmanager
def _holding(var: ContextVar[V], value: V) -> Iterator[None]:
    """``var`` set to ``value`` until the block ends."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def using(memo: BatchMemo | None) -> AbstractContextManager[None]:
    """The memo consulted by ``redacted`` and ``checked`` until the block ends."""
    return _holding(_MEMO, memo)


def _work(incident: PoliceIncident, child: Person) -> ChildWork | None:
    memo = _MEMO.get()
    return memo.lookup(incident, child) if memo is not None else None


def redacted(text: str, incident: PoliceIncident, child: Person) -> str:
    """``redact(text, incident, child)``, from the batch's memo when it has it."""
    work = _work(incident, child)
    if work is not None:
        hit = work.redacted.get(text)
        if hit is not None:
            return hit
    return redact(text, incident, child)


def checked(account: str, incident: PoliceIncident, child: Person) -> list[Suspect]:
    """``residual_check(account, incident, child)``, from the batch's memo when it has it."""
    work = _work(incident, child)
    if work is not None:
        hit = work.checked.get(account)
        if hit is not None:
            return list(hit)
    return residual_check(account, incident, child)


# Each child's match, made before the batch's transaction began (``intake_batch``): by the
# incident object's identity, then the child's person id, with the child it was made for.
Matches = dict[int, tuple[PoliceIncident, dict[str, tuple[Person, MatchResult]]]]
_MATCHES: ContextVar[Matches | None] = ContextVar("intake_batch_matches", default=None)


def matching(matches: Matches | None) -> AbstractContextManager[None]:
    """The matches consulted by ``matched`` until the block ends."""
    return _holding(_MATCHES, matches)


def matched(incident: PoliceIncident, child: Person) -> MatchResult | None:
    """The match made ahead for this very incident object and an equal child, or None."""
    matches = _MATCHES.get()
    entry = matches.get(id(incident)) if matches is not None else None
    if entry is None or entry[0] is not incident:
        return None
    found = entry[1].get(child.person_id)
    if found is None or found[0] != child:
        return None
    return found[1]
