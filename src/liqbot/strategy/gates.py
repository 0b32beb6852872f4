"""Pure gates an option must pass before it is worth anything: deny list, L2 sequencer, price freshness and
minimum profit. Each returns None (pass) or a Skip with its reason. No RPC, no clock: `now` is an input."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from liqbot.core.types import LiquidationOption, Skip, SkipReason

USD_DECIMALS = 8  # Chainlink USD feeds and Aave's base currency
# Aave ≤ v3.6 LiquidationLogic: while the PriceOracleSentinel forbids liquidations, HF below this still goes.
AAVE_SENTINEL_MIN_HF = 95 * 10**16


@dataclass(frozen=True)
class PricePoint:
    """A USD price as a feed reported it, with what the freshness check needs."""

    answer: int  # USD with USD_DECIMALS decimals
    updated_at: int  # the feed's updatedAt, unix seconds
    max_age_s: int  # oldest acceptable age for this feed (heartbeat plus margin)


class SequencerRule(StrEnum):
    """What a protocol still allows while the L2 sequencer is down or inside its grace period."""

    AAVE_SENTINEL = "aave_sentinel"  # Aave ≤ v3.6 PriceOracleSentinel: only HF < 0.95
    NO_SENTINEL = "no_sentinel"  # Aave v3.7+, Morpho Blue, Compound III: the protocol does not check


class SequencerPhase(StrEnum):
    UP = "up"  # up, and the grace period has passed
    DOWN = "down"
    GRACE = "grace"  # up again, but not for longer than the grace period
    UNKNOWN = "unknown"  # the feed could not be read or its answer makes no sense


def sequencer_rule(protocol: str, revision: str | None = None) -> SequencerRule:
    """The rule for a protocol; an Aave market of unknown revision gets the stricter (sentinel) rule."""
    if protocol == "aave_v3":
        if revision is None:
            return SequencerRule.AAVE_SENTINEL
        major, minor = (int(p) for p in revision.split(".")[:2])
        return SequencerRule.NO_SENTINEL if (major, minor) >= (3, 7) else SequencerRule.AAVE_SENTINEL
    if protocol in ("morpho_blue", "compound_v3"):
        return SequencerRule.NO_SENTINEL
    raise ValueError(f"no sequencer rule known for protocol {protocol!r}")


def sequencer_phase(
    answer: int | None, started_at: int | None, now: int, grace_period_s: int
) -> SequencerPhase:
    """Chainlink uptime feed (answer 0 up, 1 down; startedAt = when it last changed), read as Aave's
    PriceOracleSentinel reads it: up and `now - startedAt > grace` means liquidations are unrestricted."""
    if answer not in (0, 1) or started_at is None:
        return SequencerPhase.UNKNOWN
    # startedAt 0 is an uninitialised round; a start in the future would underflow the sentinel's check.
    if started_at == 0 or started_at > now:
        return SequencerPhase.UNKNOWN
    if answer == 1:
        return SequencerPhase.DOWN
    return SequencerPhase.UP if now - started_at > grace_period_s else SequencerPhase.GRACE


def sequencer_gate(
    answer: int | None,
    started_at: int | None,
    now: int,
    grace_period_s: int,
    rule: SequencerRule,
    health_factor: int,
    option: LiquidationOption | None = None,
) -> Skip | None:
    """`now` should be the expected inclusion block's timestamp: that is what the protocol checks.

    An unreadable feed skips under every rule (fail closed), even where the protocol would not care."""
    phase = sequencer_phase(answer, started_at, now, grace_period_s)
    if phase is SequencerPhase.UNKNOWN:
        return Skip(
            SkipReason.SEQUENCER_UNKNOWN, f"uptime feed answer={answer} startedAt={started_at}", option
        )
    if phase is SequencerPhase.UP or rule is SequencerRule.NO_SENTINEL:
        return None
    if health_factor < AAVE_SENTINEL_MIN_HF:
        return None
    reason = SkipReason.SEQUENCER_DOWN if phase is SequencerPhase.DOWN else SkipReason.SEQUENCER_GRACE
    return Skip(reason, f"sequencer {phase}: only HF < 0.95 may be liquidated, HF is {health_factor}", option)


def deny_gate(option: LiquidationOption, deny_assets: Iterable[str]) -> Skip | None:
    denied = {a.lower() for a in deny_assets}
    for role, asset in (("collateral", option.collateral_asset), ("debt", option.debt_asset)):
        if asset.lower() in denied:
            return Skip(SkipReason.DENY_LISTED, f"{role} asset {asset} is deny-listed", option)
    return None


def price_gate(
    asset: str, price: PricePoint | None, now: int, option: LiquidationOption | None = None
) -> Skip | None:
    """Missing or non-positive ⇒ NO_PRICE; older than max_age_s ⇒ STALE_PRICE (age == max_age_s passes)."""
    if price is None or price.answer <= 0:
        return Skip(SkipReason.NO_PRICE, f"no USD price for {asset}", option)
    age = now - price.updated_at  # negative when the feed is ahead of `now`: fresh
    if age > price.max_age_s:
        return Skip(
            SkipReason.STALE_PRICE, f"price of {asset} is {age}s old (max {price.max_age_s}s)", option
        )
    return None


def min_profit_gate(
    net_usd: Decimal, min_profit_usd: Decimal, option: LiquidationOption | None = None
) -> Skip | None:
    """The minimum is inclusive: net == min passes."""
    if net_usd >= min_profit_usd:
        return None
    return Skip(SkipReason.BELOW_MIN_PROFIT, f"net ${net_usd} < min ${min_profit_usd}", option)
