"""Pure rules behind the WebSocket head watcher: which endpoint to use, how long to back off, when silence
means a stalled stream, and what a new head says about the chain (next, gap, reorg). No I/O, no clock:
callers pass `now` (monotonic seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from liqbot.config.secrets import redact_url


@dataclass(frozen=True)
class Head:
    number: int
    hash: str
    parent_hash: str


class HeadKind(Enum):
    FIRST = "first"
    NEXT = "next"
    GAP = "gap"  # blocks were skipped (missed notifications, a reconnect): the pipeline backfills them
    REORG = "reorg"  # a head at or below the last one with another hash, or a parent we did not see
    DUPLICATE = "duplicate"  # the same head again (resubscribing can repeat it)


@dataclass
class HeadTracker:
    """The last head seen, across sessions, to classify the next one."""

    last: Head | None = None

    def observe(self, head: Head) -> HeadKind:
        last, self.last = self.last, head
        if last is None:
            return HeadKind.FIRST
        if head.hash == last.hash:
            return HeadKind.DUPLICATE
        if head.number <= last.number:
            return HeadKind.REORG
        if head.number == last.number + 1:
            return HeadKind.NEXT if head.parent_hash == last.hash else HeadKind.REORG
        return HeadKind.GAP


def parse_head(result: Any) -> Head:
    """A newHeads notification's `result`; ValueError if it is not a block header."""
    if not isinstance(result, dict):
        raise ValueError("newHeads result is not an object")
    try:
        return Head(int(result["number"], 16), str(result["hash"]), str(result["parentHash"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"newHeads result is not a block header ({type(exc).__name__})") from None


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message from the node: a reply to our request `id`, or a subscription notification."""

    id: int | None = None
    result: Any = None
    error: Any = None
    subscription: str | None = None


def parse_message(raw: str | bytes) -> Message:
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("a WebSocket message is not JSON") from None
    if not isinstance(msg, dict):
        raise ValueError("a WebSocket message is not a JSON-RPC object")
    if msg.get("method") == "eth_subscription":
        params = msg.get("params")
        if not isinstance(params, dict):
            raise ValueError("eth_subscription without params")
        return Message(subscription=str(params.get("subscription")), result=params.get("result"))
    rid = msg.get("id")
    return Message(id=rid if isinstance(rid, int) else None, result=msg.get("result"), error=msg.get("error"))


def backoff_delay(
    failures: int, *, base: float = 0.25, cap: float = 30.0, jitter: float = 0.2, rand: float = 0.0
) -> float:
    """Exponential backoff after `failures` consecutive failures (0 means none), shortened by up to
    `jitter` (a fraction) so many bots do not reconnect in step; `rand` in [0, 1) picks where."""
    if failures <= 0:
        return 0.0
    delay = min(cap, base * 2.0 ** min(failures - 1, 32))
    return delay * (1 - jitter * rand)


def endpoint_labels(urls: Sequence[str]) -> list[str]:
    """Redacted endpoint names for logs and metrics; the same redacted text twice gets '#2', '#3'."""
    out: list[str] = []
    for url in urls:
        label = redact_url(url)
        n = sum(1 for x in out if x == label or x.startswith(label + "#"))
        out.append(f"{label}#{n + 1}" if n else label)
    return out


@dataclass
class _Endpoint:
    failures: int = 0
    down_until: float = 0.0


@dataclass
class Endpoints:
    """The chain's WS endpoints in the operator's order of preference. An endpoint that fails rests for a
    backoff that doubles with each consecutive failure; once rested it is tried again (a recovered endpoint
    comes back), and a preferred one is returned to after `failback_s` on a lesser one."""

    urls: tuple[str, ...]
    base: float = 0.25
    cap: float = 30.0
    failback_s: float = 60.0
    rand: Callable[[], float] = field(default=lambda: 0.0)
    state: list[_Endpoint] = field(init=False)
    labels: list[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("no WebSocket endpoints")
        self.state = [_Endpoint() for _ in self.urls]
        self.labels = endpoint_labels(self.urls)

    def choose(self, now: float) -> tuple[int, float]:
        """(endpoint, seconds to wait first): the first rested endpoint, else the one that rests least."""
        for i, ep in enumerate(self.state):
            if ep.down_until <= now:
                return i, 0.0
        i = min(range(len(self.state)), key=lambda k: self.state[k].down_until)
        return i, self.state[i].down_until - now

    def failed(self, i: int, now: float) -> float:
        """Record a failure; returns how long the endpoint rests."""
        ep = self.state[i]
        ep.failures += 1
        delay = backoff_delay(ep.failures, base=self.base, cap=self.cap, rand=self.rand())
        ep.down_until = now + delay
        return delay

    def healthy(self, i: int) -> None:
        """The endpoint delivered a head: forget its past failures."""
        self.state[i] = _Endpoint()

    def failback(self, current: int, connected_at: float, now: float) -> int | None:
        """A preferred endpoint to move back to, if we have been on a lesser one long enough."""
        if current == 0 or now - connected_at < self.failback_s:
            return None
        return next((i for i in range(current) if self.state[i].down_until <= now), None)


@dataclass(frozen=True)
class Timing:
    """How long silence may last before the watcher checks the stream, and the limits of that check."""

    silence_s: float  # no message for this long: ask the node its head (an idle devnet is not a stall)
    probe_s: float  # the node must answer eth_blockNumber within this
    grace_s: float  # after the answer shows a newer block, its notification must arrive within this
    open_s: float  # connect + subscribe

    @classmethod
    def for_block_time(cls, block_time_s: float, stall_blocks: float = 3.0) -> Timing:
        silence = max(1.0, stall_blocks * block_time_s)
        return cls(
            silence_s=silence,
            probe_s=min(10.0, max(2.0, block_time_s)),
            grace_s=min(2.0, max(0.5, block_time_s / 2)),
            open_s=10.0,
        )


def next_wait(live: bool, latest: int | None, processed: int, poll_s: float, block_time_s: float) -> float:
    """How long the pipeline may sleep before polling HTTP anyway. While the stream is live and nothing it
    announced is left to process, one safety poll per block is enough; otherwise poll as without WS."""
    if live and latest is not None and latest <= processed:
        return max(poll_s, block_time_s)
    return poll_s
