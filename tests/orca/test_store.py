"""The store against a real database: counts shared by concurrent health checks, batches committed whole."""

from __future__ import annotations

import asyncio
import json

import pytest

from orca.config import Config
from orca.store import Entry, Store
from tests.orca.conftest import rows

pytestmark = pytest.mark.anyio


async def test_concurrent_counts_share_one_query(config: Config) -> None:
    store = Store(config)
    await store.open()
    try:
        before = store.pool.get_stats().get("requests_num", 0)
        counts = await asyncio.gather(*(store.count() for _ in range(50)))
        used = store.pool.get_stats().get("requests_num", 0) - before
    finally:
        await store.close()
    assert counts == [0] * 50
    assert used < 5


async def test_concurrent_entries_are_all_committed_and_answered_with_the_latest(config: Config, db: str) -> None:
    store = Store(config)
    await store.open()
    try:
        entry = Entry(ip="192.0.2.1", xff=None, user_agent="t", method="GET", path="/p")
        answers = await asyncio.gather(*(store.log_and_latest(entry) for _ in range(100)))
        count = await store.count()
    finally:
        await store.close()
    assert count == 100
    assert rows(db) == [(100,)]
    assert all(len(json.loads(answer)) == 10 for answer in answers[20:])
