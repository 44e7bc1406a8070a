"""The garbage collector paused for a lookup (foundations.collector): off inside, on again
when the last pause ends, whatever the threads and however a block ends, and never turned
on by a pause when it was off before."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from foundations.collector import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_on_again_after_a_block_that_raises() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a lookup fails")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outer_one() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_in_another_thread_keeps_the_collector_off_until_it_ends() -> None:
    inside, release = threading.Event(), threading.Event()

    def lookup() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    other = threading.Thread(target=lookup)
    other.start()
    assert inside.wait(5)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread's lookup is still running
    release.set()
    other.join(5)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
