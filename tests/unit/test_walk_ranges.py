"""The ranges whole-member walks fan out over, and the lazy merge of a list's shards (pure,
no servers: the list reads are replaced by in-memory shards)."""
from __future__ import annotations

import heapq
import random

import pytest

from chalicelib.core.table import keys
from chalicelib.core.table.definition import LIST_SHARDS, MEMBER_LIST_SHARDS
from chalicelib.members import service as members
from chalicelib.segments.service import Base


def test_the_member_list_has_more_shards_than_before_and_every_old_shard_is_among_them():
    assert MEMBER_LIST_SHARDS == 32 and set(range(LIST_SHARDS)) <= set(range(MEMBER_LIST_SHARDS))
    assert [keys.list_shard(k) for k in keys.members_list_shards("t1")] == list(range(MEMBER_LIST_SHARDS))
    assert keys.list_shard(keys.members_by_channel("t1", "mall", 3)) == 3


@pytest.mark.parametrize("size, expected", [(0, 1), (members.FAN_OUT_MIN - 1, 1), (members.FAN_OUT_MIN, 32)])
def test_member_ranges_cover_every_shard_once(monkeypatch, size, expected):
    monkeypatch.setattr(members.store, "member_count", lambda tenant_id: size)
    ranges = members.member_ranges("t1")
    assert len(ranges) == expected
    flat = [s for r in ranges for s in r]
    assert sorted(flat) == list(range(MEMBER_LIST_SHARDS)) and len(flat) == len(set(flat))


def _shards(n_shards: int, n_members: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    shards: list[list[tuple[str, str]]] = [[] for _ in range(n_shards)]
    for n in range(n_members):
        position = f"2026-01-{1 + rng.randrange(28):02d}#{n:06d}"
        shards[rng.randrange(n_shards)].append((position, f"m{n}"))
    return [sorted(s) for s in shards]


def test_a_base_page_merges_its_shards_lazily_and_reads_about_a_page():
    shards = _shards(32, 700, seed=5)
    read = [0]

    def fetch(shard: int, after: str | None, limit: int) -> list[tuple[str, str]]:
        rows = [r for r in shards[shard] if after is None or r[0] > after][:limit]
        read[0] += len(rows)
        return rows

    base = Base("all_members", 700, fetch, 32)
    everything = list(heapq.merge(*shards))
    after, walked = None, []
    while True:
        read[0] = 0
        page = base.page(after, 100)
        assert read[0] <= 100 + 32 * 8  # a slice of each shard and about a page more, not 100 from each
        walked += page
        if len(page) < 100:
            break
        after = page[-1][0]
    assert walked == everything
    # one range's shards only: their members, in position order
    assert base.page(None, 1000, [1, 17]) == list(heapq.merge(shards[1], shards[17]))


def test_a_range_page_walks_its_shards_one_after_the_other(monkeypatch):
    shards = _shards(32, 90, seed=9)
    monkeypatch.setattr(members.store, "member_ids_page", lambda tenant_id, channel, shard, after, limit: [
        r for r in shards[shard] if after is None or r[0] > after][:limit])
    walked, cp = [], None
    while True:
        ids, cp = members.range_page("t1", [4, 0, 9], cp, 2)
        walked += ids
        if cp is None:
            break
    assert walked == [m for s in (4, 0, 9) for _, m in shards[s]]


def test_a_long_walk_costs_few_calls_per_shard():
    shards = _shards(32, 3000, seed=7)
    calls = [0]

    def fetch(shard: int, after: str | None, limit: int) -> list[tuple[str, str]]:
        calls[0] += 1
        return [r for r in shards[shard] if after is None or r[0] > after][:limit]

    walked = list(Base("all_members", 3000, fetch, 32).stream(None))
    assert walked == list(heapq.merge(*shards))
    assert calls[0] <= 32 * 5  # ~94 a shard: slices of 8, 16, 32, 64 (then 128); the old walk: 30 pages x 4 shards
