"""The L2 sequencer gate again, right before sending: detection checked the block it decided on, but a
send goes out later, and the sequencer may have gone down meanwhile. Same rule as detection
(strategy/gates.py), read at `latest` together with that block's timestamp in one call."""

from __future__ import annotations

import aiohttp

from liqbot.chain.abi_call import fn
from liqbot.chain.client import MULTICALL3, ChainClient, RpcError
from liqbot.config import ChainConfig
from liqbot.core.types import Skip
from liqbot.strategy.gates import SequencerPhase, SequencerRule, sequencer_gate, sequencer_phase

_FEED = fn("PriceFeed", "latestRoundData")
_NOW = fn("Multicall3", "getCurrentBlockTimestamp")


async def read_latest(client: ChainClient, chain: ChainConfig) -> tuple[int | None, int | None, int | None]:
    """(answer, updatedAt, latest block timestamp) of the uptime feed; Nones where the read failed."""
    assert chain.sequencer_uptime_feed is not None
    multicall = chain.contracts.multicall3 or MULTICALL3
    try:
        (ok_t, ts), (ok_f, feed) = await client.multicall(
            [(multicall, _NOW.encode()), (chain.sequencer_uptime_feed, _FEED.encode())], "latest", multicall
        )
    except (RpcError, aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None, None, None
    now = int(_NOW.decode_one(ts)) if ok_t and len(ts) >= 32 else None
    if not ok_f or len(feed) < 160:
        return None, None, now
    # Aave's sentinel times the grace period from updatedAt (see engine/facts.py read_sequencer).
    _r, answer, _started, updated, _a = _FEED.decode(feed)
    return int(answer), int(updated), now


def rule_for(protocol: str) -> SequencerRule:
    """As detection applies it (engine/decide.py): Aave markets with the sentinel, everything else without."""
    return SequencerRule.AAVE_SENTINEL if protocol == "aave_v3" else SequencerRule.NO_SENTINEL


def gate_at_send(
    answer: int | None,
    updated: int | None,
    latest_ts: int | None,
    chain: ChainConfig,
    protocol: str,
    health_factor: int,
) -> tuple[SequencerPhase, Skip | None]:
    """The phase (for the metric) and the gate's answer at the expected inclusion time."""
    if latest_ts is None:
        return SequencerPhase.UNKNOWN, sequencer_gate(None, None, 0, 0, rule_for(protocol), health_factor)
    now = latest_ts + max(1, int(chain.block_time_s))
    grace = chain.sequencer_grace_period_s
    phase = sequencer_phase(answer, updated, now, grace)
    return phase, sequencer_gate(answer, updated, now, grace, rule_for(protocol), health_factor)
