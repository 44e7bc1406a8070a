"""The ``email`` policies our messages are built and sent with: the standard library's
``policy.default`` and ``policy.SMTP``, the same output byte for byte, that parse and fold
a repeated header once instead of once per e-mail; and the generator that writes them.

Why (ms of CPU per e-mail, CPython 3.11, ``bench/email_cpu.py``, stock -> these): building
a message took 2.7-3.4 -> 0.45-0.65, serialising it 1.0 -> 0.4. 70 % of the build was the
header registry: ``HeaderRegistry.__getitem__`` makes a brand-new class with ``type()`` on
every call (~20 us, twice per header: to parse it, and for ``max_count``), and every value
was parsed from scratch although most are the same in every e-mail (From, To per school,
Auto-Submitted, MIME-Version, the parts' Content-Type and Content-Transfer-Encoding).
Serialising refolded every header.

What is kept is safe to share, between messages and threads: a header object is an
immutable ``str`` whose parse tree nothing changes (folding only reads it), and its fold is
a function of the object and the policy's settings alone. Both caches are bounded; a value
seen once (Date, Message-ID, the boundary) only passes through them.
"""

from __future__ import annotations

import functools
import io
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

# Header objects (and folds) kept: a few hundred e-mails' repeated values fit many times over.
HEADERS_KEPT = 512
# Header classes kept, one per header name (there are about twenty in our messages).
CLASSES_KEPT = 64


class MemoHeaderRegistry(HeaderRegistry):
    """A header factory that makes each header name's class once and parses each
    (name, value) pair once, then hands out the same immutable header object."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed = functools.lru_cache(maxsize=HEADERS_KEPT)(super().__call__)

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()
        self._parsed.cache_clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = super().__getitem__(name)
            if len(self._classes) < CLASSES_KEPT:
                self._classes[key] = cls
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is str:  # not a header object of another name, nor a list of addresses
            return self._parsed(name, value)
        return super().__call__(name, value)

    def __reduce__(self) -> str:
        # A copied (or pickled) message's policy keeps the module's one registry: its
        # caches are shared, and a deep copy of them would cost more than they save.
        return "HEADERS"


class WirePolicy(EmailPolicy):
    """``policy.SMTP`` that keeps the folded bytes of the header objects it folds: the same
    object (an identity check, not only an equal string) folds to the same bytes. Emptied
    when full: the few values every e-mail repeats are folded again once in a while."""

    _folds: dict[tuple[str, str], tuple[str, bytes]]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        object.__setattr__(self, "_folds", {})

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        kept = self._folds.get((name, value))
        if kept is not None and kept[0] is value:
            return kept[1]
        folded: bytes = super().fold_binary(name, value)
        if len(self._folds) >= HEADERS_KEPT:
            self._folds.clear()
        self._folds[name, value] = (value, folded)
        return folded

    def clone(self, **kw: Any) -> WirePolicy:
        """Itself when nothing changes (the generator clones its policy, with the same line
        ends, for every part of a message; a policy is immutable). Changed settings make
        a new policy, so a fold kept for one setting never serves another."""
        if all(hasattr(self, name) and getattr(self, name) == value for name, value in kw.items()):
            return self
        settings = {name: value for name, value in vars(self).items() if name != "_folds"}
        return WirePolicy(**(settings | kw))


HEADERS = MemoHeaderRegistry()
# ``policy.default`` for building (``message.get_content()`` keeps its "\n" line ends).
BUILD = policy.default.clone(header_factory=HEADERS)
# ``policy.SMTP`` (``policy.default`` with CRLF line ends) for the bytes on the wire.
WIRE = WirePolicy(linesep="\r\n", header_factory=HEADERS)


def wire_bytes(message: Message) -> bytes:
    """``message.as_bytes(policy=policy.SMTP)``, byte for byte, for less CPU."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=WIRE).flatten(message)
    return out.getvalue()
