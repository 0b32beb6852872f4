"""The pure canonical-chain rules: remembered hashes, the free parentHash check, the walk back to the fork."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import given
from hypothesis import strategies as st

from liqbot.chain.canonical import (
    MAX_REORG_DEPTH,
    CanonicalView,
    Header,
    RecentHashes,
    common_ancestor,
    is_canonical,
)
from liqbot.engine.reorg import ReorgGuard
from liqbot.store.models import Cursor
from liqbot.telemetry.metrics import Metrics

T = TypeVar("T")


class FakeChain:
    """Blocks 0..tip; those above `fork` belong to branch `tag` (0xa… below), so a fork at F shares 0..F."""

    def __init__(self, tip: int, fork: int | None = None, tag: str = "b") -> None:
        self.tip, self.fork, self.tag = tip, fork, tag
        self.asked: list[int] = []

    def hash(self, n: int) -> str:
        return f"0x{self.tag if self.fork is not None and n > self.fork else 'a'}{n}"

    async def read(self, n: int) -> Header | None:
        self.asked.append(n)
        return None if n > self.tip else (self.hash(n), self.hash(n - 1))

    def view(self) -> CanonicalView:
        v = CanonicalView(self.read)
        v.learn(self.tip, (self.hash(self.tip), self.hash(self.tip - 1)))  # the head the step read
        return v


def remembered(numbers: range | list[int], keep: int = 64) -> RecentHashes:
    r = RecentHashes(keep)
    for n in numbers:
        r.note(n, f"0xa{n}")
    return r


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_recent_hashes_keep_the_newest_and_a_block_replaces_those_above() -> None:
    r = remembered(range(100, 200), keep=64)
    assert r.numbers()[0] == 199 and r.numbers()[-1] == 136 and len(r.numbers()) == 64
    r.note(150, "0xB150")  # a step at a lower height (after a rollback) forgets what was above it
    assert r.numbers()[0] == 150 and r.get(150) == "0xb150" and r.get(151) is None
    r.drop_above(140)
    assert r.numbers()[0] == 140


def test_the_head_child_of_the_processed_block_is_checked_without_a_read() -> None:
    chain = FakeChain(tip=101)
    view = chain.view()
    assert run(is_canonical(remembered([100]), 100, view))
    assert chain.asked == [] and view.reads == 0


def test_a_replaced_parent_is_seen_without_a_read() -> None:
    chain = FakeChain(tip=101, fork=98)
    view = chain.view()
    assert not run(is_canonical(remembered(range(90, 101)), 100, view))
    assert chain.asked == []


def test_several_new_blocks_cost_one_header_read() -> None:
    chain = FakeChain(tip=110)
    view = chain.view()
    assert run(is_canonical(remembered([100]), 100, view))
    assert chain.asked == [100]


def test_the_walk_finds_the_fork_point_in_about_half_as_many_reads_as_blocks() -> None:
    chain = FakeChain(tip=101, fork=95)
    view = chain.view()
    recent = remembered(range(60, 101))
    assert not run(is_canonical(recent, 100, view))
    assert run(common_ancestor(recent, 99, view)) == 95
    assert view.reads == len(chain.asked) <= 3  # each header also gives its parent's hash


def test_blocks_never_remembered_are_skipped_toward_an_older_known_ancestor() -> None:
    """Steps that covered several blocks remember only their last: the ancestor found may be older than
    the true fork point (more blocks replayed), never newer."""
    chain = FakeChain(tip=130, fork=117)
    recent = remembered([100, 110, 120, 125])
    assert run(common_ancestor(recent, 124, chain.view())) == 110


def test_a_reorg_deeper_than_memory_or_the_bound_means_a_full_resync() -> None:
    chain = FakeChain(tip=201, fork=50)
    assert run(common_ancestor(remembered(range(137, 201)), 199, chain.view())) is None
    chain = FakeChain(tip=201, fork=120)  # 80 deep, memory reaches back far enough, the bound does not
    assert (
        run(common_ancestor(remembered(range(100, 201), keep=200), 199, chain.view(), max_depth=64)) is None
    )


def test_a_block_the_node_does_not_have_is_not_a_reorg() -> None:
    """A lagging endpoint answers null for a block it has not seen: nothing to compare, no rollback."""
    chain = FakeChain(tip=90)
    view = CanonicalView(chain.read)
    assert run(is_canonical(remembered([100]), 100, view))
    assert run(is_canonical(RecentHashes(), 100, view)), "no remembered hash: nothing to compare"


@given(
    tip=st.integers(min_value=70, max_value=300),
    depth=st.integers(min_value=1, max_value=70),
    grow=st.integers(min_value=1, max_value=5),
    gaps=st.sets(st.integers(min_value=0, max_value=69), max_size=30),
)
def test_the_ancestor_is_remembered_canonical_and_never_above_the_fork(
    tip: int, depth: int, grow: int, gaps: set[int]
) -> None:
    fork = tip - depth
    numbers = [n for n in range(tip - 69, tip + 1) if tip - n not in gaps or n == tip]
    recent = remembered(numbers)
    chain = FakeChain(tip=tip + grow, fork=fork)
    view = chain.view()
    assert not run(is_canonical(recent, tip, view))
    found = run(common_ancestor(recent, tip - 1, view))
    expected = max((n for n in recent.numbers() if n <= fork and n >= tip - 1 - 64), default=None)
    assert found == expected
    if found is not None:
        assert found <= fork and recent.get(found) == chain.hash(found)


class HeaderClient:
    """Stands in for ChainClient.block over a FakeChain (ReorgGuard reads only headers)."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    async def block(self, number: int) -> dict[str, Any] | None:
        got = await self.chain.read(number)
        return None if got is None else {"hash": got[0], "parentHash": got[1]}


def guard_over(chain: FakeChain, numbers: list[int]) -> tuple[ReorgGuard, Metrics]:
    metrics = Metrics()
    guard = ReorgGuard(HeaderClient(chain), "test", metrics)  # type: ignore[arg-type]
    for n in numbers:
        guard.processed(n, f"0xa{n}")
    return guard, metrics


def head_of(chain: FakeChain) -> dict[str, Any]:
    return {"hash": chain.hash(chain.tip), "parentHash": chain.hash(chain.tip - 1)}


def depth_count(metrics: Metrics, depth: str) -> float:
    return (
        metrics.registry.get_sample_value("liqbot_reorgs_handled_total", {"chain": "test", "depth": depth})
        or 0
    )


def test_guard_rolls_back_to_the_fork_point_and_counts_the_depth() -> None:
    chain = FakeChain(tip=103, fork=98)
    guard, metrics = guard_over(chain, list(range(90, 101)))
    reorg = run(guard.check(100, 103, head_of(chain)))
    assert reorg is not None and reorg.ancestor == 98 and reorg.first_block(0) == 99
    assert reorg.depth == "2" and depth_count(metrics, "2") == 1
    assert guard.recent.numbers()[0] == 98, "the orphaned hashes are forgotten"


def test_guard_sees_no_reorg_on_a_straight_chain() -> None:
    chain = FakeChain(tip=101)
    guard, metrics = guard_over(chain, [99, 100])
    assert run(guard.check(100, 101, head_of(chain))) is None
    assert chain.asked == [] and depth_count(metrics, "1") == 0


def test_guard_right_after_a_start_assumes_the_bound_instead_of_a_full_resync() -> None:
    """Only the start head and its parent are remembered: a 3-deep reorg cannot be placed, so discovery is
    read again over MAX_REORG_DEPTH blocks (cheap), not from the start block (a full backfill)."""
    chain = FakeChain(tip=1001, fork=997)
    guard, metrics = guard_over(chain, [999, 1000])
    reorg = run(guard.check(1000, 1001, head_of(chain)))
    assert reorg is not None and reorg.ancestor == 1000 - MAX_REORG_DEPTH and not reorg.seen
    assert reorg.first_block(500) == 1000 - MAX_REORG_DEPTH + 1 and depth_count(metrics, "unknown") == 1


def test_guard_resyncs_fully_when_every_remembered_block_in_reach_is_gone() -> None:
    chain = FakeChain(tip=1001, fork=900)
    guard, metrics = guard_over(chain, list(range(880, 1001, 5)))
    reorg = run(guard.check(1000, 1001, head_of(chain)))
    assert reorg is not None and reorg.ancestor is None and reorg.first_block(500) == 500
    assert depth_count(metrics, "full") == 1


def cursor_at(block: int, block_hash: str, stream: str = "aave_v3:0xp") -> Cursor:
    return Cursor(1, stream, block, block_hash, datetime(2026, 1, 1, tzinfo=UTC))


def test_start_resumes_after_a_cursor_still_on_the_chain() -> None:
    chain = FakeChain(tip=500)
    guard, metrics = guard_over(chain, [])
    assert run(guard.resume_from(cursor_at(400, "0xA400"), 0, 500)) == 401
    assert chain.asked == [400] and depth_count(metrics, "restart") == 0


def test_start_rescans_below_a_cursor_orphaned_while_stopped_and_counts_it_once() -> None:
    chain = FakeChain(tip=500, fork=398)
    guard, metrics = guard_over(chain, [])
    for stream in ("aave_v3:0xp", "morpho_blue:0xm"):  # the streams share the cursor block
        first = run(guard.resume_from(cursor_at(400, "0xa400", stream), 0, 500))
        assert first == 400 - MAX_REORG_DEPTH + 1
    assert run(guard.resume_from(cursor_at(400, "0xa400"), 380, 500)) == 380, "never below the start block"
    assert depth_count(metrics, "restart") == 1


def test_start_below_a_cursor_the_chain_no_longer_reaches() -> None:
    """The chain was rolled back below the cursor while the bot was down."""
    chain = FakeChain(tip=390)
    guard, metrics = guard_over(chain, [])
    assert run(guard.resume_from(cursor_at(400, "0xa400"), 0, 390)) == 390 - MAX_REORG_DEPTH + 1
    assert chain.asked == [] and depth_count(metrics, "restart") == 1
