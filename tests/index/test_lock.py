"""The lease that lets instances sharing one Chroma server index one at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.errors import IndexBusyError
from index.lock import IndexLease
from index.store import Store, make_client


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(make_client(tmp_path / "store"), "fake", 8)


def test_a_held_lease_turns_others_away_until_released(store: Store) -> None:
    with IndexLease(store, settle=0.05) as first:
        assert IndexLease.is_held(store)
        with pytest.raises(IndexBusyError, match=first.owner):
            IndexLease(store, timeout=0.3, settle=0.05).__enter__()
    assert not IndexLease.is_held(store)
    with IndexLease(store, settle=0.05):
        assert IndexLease.is_held(store)


def test_a_dead_holders_lease_lapses(store: Store) -> None:
    store.write_lease("crashed-host:123:abc", store.server_time() - 1)
    assert not IndexLease.is_held(store)
    with IndexLease(store, settle=0.05) as lease:
        assert store.read_lease()["owner"] == lease.owner  # type: ignore[index]


def test_a_live_holder_renews_past_its_ttl(store: Store) -> None:
    with IndexLease(store, ttl=0.6, settle=0.05):
        time.sleep(1.5)  # over two TTLs: only renewal keeps it
        with pytest.raises(IndexBusyError):
            IndexLease(store, settle=0.05).__enter__()


def _race(store: Store, takers: int) -> tuple[list[str], list[Exception]]:
    winners: list[str] = []
    errors: list[Exception] = []
    start = threading.Barrier(takers)

    def take() -> None:
        lease = IndexLease(store, settle=0.4)
        start.wait()
        try:
            lease.__enter__()
        except IndexBusyError as exc:
            errors.append(exc)
            return
        winners.append(lease.owner)
        time.sleep(1.0)  # hold while the others read the record back
        lease.__exit__(None, None, None)

    threads = [threading.Thread(target=take) for _ in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return winners, errors


def test_racing_takers_agree_on_one_winner(store: Store) -> None:
    for _ in range(3):
        winners, errors = _race(store, 3)
        assert len(winners) == 1 and len(errors) == 2
        assert store.read_lease() is None


def test_a_holder_that_lost_its_lease_stops_between_groups(store: Store) -> None:
    with IndexLease(store, settle=0.05) as lease:
        lease.ensure_held()
        store.write_lease("other-host:1:xyz", store.server_time() + 30)  # it lapsed, was taken
        with pytest.raises(IndexBusyError, match="took over"):
            lease.ensure_held()
    assert store.read_lease()["owner"] == "other-host:1:xyz"  # type: ignore[index]
