"""Notice when blocks the pipeline already processed leave the canonical chain.

Per step the check is free when the new head is the child of the block processed last (its parentHash), and
one header read when several blocks arrived at once. The pipeline answers a reorg the simple way: each
adapter is bootstrapped again at the new head (a fresh snapshot for every known account, discovery logs from
the fork point), so no event of the orphaned branch survives in the local state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from liqbot.chain.canonical import (
    MAX_REORG_DEPTH,
    CanonicalView,
    Header,
    RecentHashes,
    common_ancestor,
    is_canonical,
)
from liqbot.chain.client import ChainClient
from liqbot.store.models import Cursor
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.reorg")


@dataclass(frozen=True)
class Reorg:
    processed: int  # the last block we had processed
    ancestor: int | None  # the newest processed block still canonical; None: deeper than MAX_REORG_DEPTH
    head: int
    seen: bool = True  # False: memory was too short to find it (just started), MAX_REORG_DEPTH assumed

    def first_block(self, start_block: int) -> int:
        """Where discovery logs must be read again from."""
        return start_block if self.ancestor is None else max(start_block, self.ancestor + 1)

    @property
    def depth(self) -> str:
        """Blocks rolled back (a metric label): a number, `full` for a resync from the start block, or
        `unknown` when the fork point was older than what the pipeline remembered."""
        if self.ancestor is None:
            return "full"
        return str(self.processed - self.ancestor) if self.seen else "unknown"


class ReorgGuard:
    def __init__(self, client: ChainClient, chain: str, metrics: Metrics) -> None:
        self.client, self.chain, self.metrics = client, chain, metrics
        self.recent = RecentHashes(MAX_REORG_DEPTH)
        self._orphaned_cursors: set[tuple[int, str]] = set()  # streams share a cursor block: count it once

    async def header(self, number: int) -> Header | None:
        block = await self.client.block(number)
        return None if block is None else (str(block["hash"]), str(block["parentHash"]))

    def processed(self, number: int, block_hash: str) -> None:
        self.recent.note(number, block_hash)

    async def check(self, processed: int, head: int, head_block: dict[str, Any]) -> Reorg | None:
        """None if `processed` is still canonical under `head` (whose header the step has read already)."""
        view = CanonicalView(self.header)
        view.learn(head, (str(head_block["hash"]), str(head_block["parentHash"])))
        if await is_canonical(self.recent, processed, view):
            return None
        reorg = Reorg(processed, await common_ancestor(self.recent, processed - 1, view), head)
        bound = processed - MAX_REORG_DEPTH
        if reorg.ancestor is None and not any(n <= bound for n in self.recent.numbers()):
            # Too little remembered to look that far back (the first blocks after a start, or after a
            # rollback): assume the reorg is no deeper than the bound rather than resync from the start.
            reorg = Reorg(processed, max(0, bound), head, seen=False)
        self.recent.drop_above(-1 if reorg.ancestor is None else reorg.ancestor)
        log.warning(
            "reorg: processed blocks left the chain; rebuilding local state at the head",
            chain=self.chain,
            depth=reorg.depth,
            orphaned=f"{reorg.first_block(0)}..{processed}",
            head=head,
            header_reads=view.reads,
        )
        self.metrics.reorgs.labels(self.chain, reorg.depth).inc()
        return reorg

    async def resume_from(self, cursor: Cursor, start_block: int, head: int) -> int:
        """The first block to backfill at start: after the cursor, or (its block was orphaned while the bot
        was down) MAX_REORG_DEPTH blocks before it, since only the cursor's own hash was kept."""
        ours = cursor.block_hash.lower()
        theirs = await self.header(cursor.block_number) if cursor.block_number <= head else None
        if theirs is not None and theirs[0].lower() == ours:
            return cursor.block_number + 1
        if theirs is None and cursor.block_number <= head:
            return cursor.block_number + 1  # the node has no such block yet: nothing to compare
        first = max(start_block, min(cursor.block_number, head) - MAX_REORG_DEPTH + 1)
        log.warning(
            "reorg while stopped: the stored cursor's block left the chain; rescanning discovery logs",
            chain=self.chain,
            stream=cursor.stream,
            cursor=cursor.block_number,
            rescan_from=first,
            head=head,
        )
        if (cursor.block_number, ours) not in self._orphaned_cursors:
            self._orphaned_cursors.add((cursor.block_number, ours))
            self.metrics.reorgs.labels(self.chain, "restart").inc()
        return first
