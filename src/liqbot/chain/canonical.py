"""Is the block we processed last still on the canonical chain, and if not, where did the chains fork?

The pipeline remembers the hash of the last blocks it processed (RecentHashes). Each step it compares the one
it processed last with the chain: for free when the new head is its child (the head's parentHash), with one
header read otherwise. On a mismatch `common_ancestor` walks back over the remembered blocks to the newest one
the chain still has. Pure logic: headers come from a callable, so it is tested without a node."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

# Reorgs deeper than this (or beyond what we remember) are handled as a full resync.
MAX_REORG_DEPTH = 64

# A block's (hash, parent hash), or None if the node does not have that block (yet).
Header = tuple[str, str]
ReadHeader = Callable[[int], Awaitable[Header | None]]


class RecentHashes:
    """The (number, hash) of the last `keep` blocks processed, newest last."""

    def __init__(self, keep: int = MAX_REORG_DEPTH) -> None:
        self.keep = keep
        self._by_number: OrderedDict[int, str] = OrderedDict()

    def note(self, number: int, block_hash: str) -> None:
        self.drop_above(number - 1)  # a block replaces itself and anything remembered above it
        self._by_number[number] = block_hash.lower()
        while len(self._by_number) > self.keep:
            self._by_number.popitem(last=False)

    def get(self, number: int) -> str | None:
        return self._by_number.get(number)

    def drop_above(self, number: int) -> None:
        for n in [n for n in self._by_number if n > number]:
            del self._by_number[n]

    def numbers(self) -> list[int]:
        """Remembered block numbers, newest first."""
        return sorted(self._by_number, reverse=True)

    def clear(self) -> None:
        self._by_number.clear()


class CanonicalView:
    """Hashes the chain has now, learned from headers (each header also gives its parent's hash), so a
    walk back reads each header at most once and a child's header spares reading its parent."""

    def __init__(self, read: ReadHeader) -> None:
        self.read = read
        self.known: dict[int, str] = {}
        self.reads = 0

    def learn(self, number: int, header: Header) -> None:
        block_hash, parent = header
        self.known[number] = block_hash.lower()
        if number > 0:
            self.known[number - 1] = parent.lower()

    async def hash_at(self, number: int) -> str | None:
        if number not in self.known:
            self.reads += 1
            header = await self.read(number)
            if header is None:
                return None
            self.learn(number, header)
        return self.known[number]


async def is_canonical(recent: RecentHashes, number: int, chain: CanonicalView) -> bool:
    """True if the block we processed at `number` is still the chain's. A block we have no hash for, or one
    the node does not have (a lagging endpoint), counts as canonical: there is nothing to compare."""
    ours = recent.get(number)
    if ours is None:
        return True
    theirs = await chain.hash_at(number)
    return theirs is None or theirs == ours


async def common_ancestor(
    recent: RecentHashes, tip: int, chain: CanonicalView, max_depth: int = MAX_REORG_DEPTH
) -> int | None:
    """The newest remembered block at or below `tip` that the chain still has, looking at most `max_depth`
    blocks back; None if there is none (the reorg is deeper than we can see: resync fully).

    A block we never remembered (steps that covered several blocks remember only the last) is skipped: the
    ancestor found may then be older than the true fork point, which only replays more blocks."""
    for number in recent.numbers():
        if number > tip:
            continue
        if number < tip - max_depth:
            break
        if await chain.hash_at(number) == recent.get(number):
            return number
    return None
