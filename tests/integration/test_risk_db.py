"""Every cap and every automatic kill-switch rule against real databases: rows are written through the real
Store (SQLite, and PostgreSQL when LIQBOT_TEST_POSTGRES_URL is set) and the guard reads them back, so what
one instance sent, another instance (or the same one after a restart) sees."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from liqbot.chain.client import ChainClient
from liqbot.config.models import AutoTripConfig, CapsConfig, ChainConfig, KillSwitchConfig, LiqbotConfig
from liqbot.core.types import LiquidationOption, Opportunity, ProfitBreakdown, SkipReason
from liqbot.risk import killswitch
from liqbot.risk.caps import SessionTally
from liqbot.risk.guard import RiskGuard
from liqbot.risk.trips import FLASH_REPAY_SELECTORS
from liqbot.store import AttemptStatus, Store, open_store
from liqbot.strategy.gates import PricePoint
from liqbot.strategy.pricing import GasFacts, MarketFacts
from liqbot.telemetry.metrics import Metrics

from .test_store import db_url, pg_admin  # noqa: F401 - the two-backend fixtures

S = AttemptStatus
CHAIN = ChainConfig(name="devchain", chain_id=31337, rpc_http=("http://127.0.0.1:9",))
USDC = "0x" + "d0" * 20
WETH = "0x" + "e0" * 20
BOB, ALICE, CAROL = "0x" + "b0" * 20, "0x" + "a0" * 20, "0x" + "c0" * 20
ETH_USD = 2_000 * 10**8
FACTS = MarketFacts(
    now=0,
    decimals={USDC: 6, WETH: 18},
    prices={USDC: PricePoint(10**8, 0, 10**9), WETH: PricePoint(ETH_USD, 0, 10**9)},
    native_price=PricePoint(ETH_USD, 0, 10**9),
    quotes={},
    gas=GasFacts(10**9, 900_000, 10**10, 0),
)
CAPS = CapsConfig(
    max_notional_usd_per_attempt=Decimal("1000"),
    max_daily_gas_usd=Decimal("10"),
    max_attempts_per_borrower_per_hour=2,
    max_inflight_per_chain=3,
    max_live_executions_per_session=3,
    max_notional_usd_per_session=Decimal("2500"),
    max_notional_usd_per_day=Decimal("2000"),
)
POLICY = AutoTripConfig(
    min_sample=4,
    max_consecutive_reverts=3,
    max_realized_loss_usd=Decimal("10"),
    max_gas_spent_usd=Decimal("20"),
)
_blocks = itertools.count(1_000)
_hashes = itertools.count(1)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811 - db_url is the fixture imported above
    s = open_store(db_url)
    yield s
    s.close()


def guard(store: Store, *, caps: CapsConfig = CAPS, policy: AutoTripConfig = POLICY, **kw: Any) -> RiskGuard:
    cfg = LiqbotConfig(chains=(CHAIN,), caps=caps, kill_switch=KillSwitchConfig(auto_trip=policy))
    client = ChainClient(CHAIN.rpc_http[0], CHAIN.chain_id)  # never called by these paths
    return RiskGuard(
        cfg, CHAIN, client, store, kw.get("metrics") or Metrics(), kw.get("session") or SessionTally()
    )


def row(
    store: Store,
    end: AttemptStatus | None,
    *,
    borrower: str = BOB,
    usdc: int = 100,
    ago: timedelta = timedelta(0),
    mode: str = "flash",
    gas_usd: Decimal | None = None,
    **end_fields: Any,
) -> int:
    """A live attempt through the store's real moves: detected → simulated → submitted → `end`
    (None: stays submitted, i.e. in flight; SIMULATED: stops there). `gas_usd` at $2000 gas token."""
    i = store.record_detected(
        chain_id=CHAIN.chain_id, protocol="aave_v3", market="0x" + "aa" * 20, borrower=borrower, mode=mode,
        collateral_asset=WETH, debt_asset=USDC, debt_to_cover=usdc * 10**6, expected_seized=1,
        expected_profit_usd=Decimal(5), detected_block=next(_blocks), created_at=datetime.now(UTC) - ago,
    )  # fmt: skip
    if end in (S.SKIPPED, S.LOST_RACE) and not end_fields.pop("on_chain", False):
        store.advance(i, end, **end_fields)
        return i
    store.advance(i, S.SIMULATED, sender="0x" + "5e" * 20)
    if end is S.SIMULATED:
        return i
    store.advance(i, S.SUBMITTED, tx_hash=f"0x{next(_hashes):064x}", nonce=1)
    if end is None:
        return i
    if gas_usd is not None:  # gas_used × 1 gwei × $2000: $0.000002 per gas
        end_fields |= {"gas_used": int(gas_usd / Decimal("0.000002")), "effective_gas_price": 10**9}
    store.advance(i, end, included_block=next(_blocks), **end_fields)
    return i


def opp(
    borrower: str = BOB, usdc: int = 100, gas_usd: Decimal = Decimal("0.5"), debt_price: int = 10**8
) -> Opportunity:
    o = LiquidationOption(
        chain_id=CHAIN.chain_id, protocol="aave_v3", market="0x" + "aa" * 20, borrower=borrower,
        collateral_asset=WETH, debt_asset=USDC, debt_to_cover=usdc * 10**6, collateral_to_liquidator=1,
        protocol_fee=0, health_factor=9 * 10**17, block=1, collateral_price=ETH_USD, debt_price=debt_price,
        collateral_decimals=18, debt_decimals=6,
    )  # fmt: skip
    # signed as it affects us: the gas cost is negative
    profit = ProfitBreakdown(Decimal(10), Decimal(0), Decimal(0), -gas_usd, Decimal(0), Decimal(10) - gas_usd)
    return Opportunity(o, profit, 1, 500, 900_000, 2 * 10**9, 10**9, True)


def ask(g: RiskGuard, store: Store, o: Opportunity) -> SkipReason | None:
    i = row(store, S.SKIPPED, borrower=o.option.borrower, reason="placeholder")  # any id of a real row
    refused = g.admit(i, o, FACTS)
    return None if refused is None else refused.reason


# ---- caps and throttles ------------------------------------------------------------------------------------


def test_sends_to_one_borrower_per_hour(store: Store) -> None:
    row(store, S.INCLUDED, ago=timedelta(hours=2))  # older than an hour
    row(store, S.LOST_RACE)  # lost in simulation: never sent
    row(store, S.INCLUDED)
    g = guard(store)
    assert ask(g, store, opp()) is None  # 1 send this hour; this one is now held in memory
    assert ask(g, store, opp()) is SkipReason.BORROWER_THROTTLED  # 1 in the database + 1 held
    assert ask(g, store, opp(ALICE)) is None
    other = guard(store)  # another instance sees only the database: 1 send to Bob
    assert ask(other, store, opp()) is None
    row(store, S.REVERTED)
    assert ask(guard(store), store, opp()) is SkipReason.BORROWER_THROTTLED


def test_inflight_per_chain(store: Store) -> None:
    row(store, None, borrower=CAROL)  # submitted
    row(store, S.SIMULATED, borrower=CAROL)
    row(store, S.INCLUDED, borrower=ALICE)  # ended: not in flight
    g = guard(store)
    assert ask(g, store, opp(ALICE)) is None  # 2 in the database + this one
    assert ask(g, store, opp(BOB)) is SkipReason.INFLIGHT_CAP
    held = next(iter(g.held))
    g.release(held)
    assert ask(g, store, opp(BOB)) is None


def test_live_executions_and_notional_per_session(store: Store) -> None:
    session = SessionTally()
    g = guard(store, session=session)
    for who in (ALICE, BOB):
        i = row(store, S.SKIPPED, borrower=who, reason="placeholder")
        assert g.admit(i, opp(who), FACTS) is None
        g.sending(i)
        g.release(i)
    i = row(store, S.SKIPPED, reason="placeholder")
    assert g.admit(i, opp(BOB), FACTS) is None
    g.release(i)  # skipped before the sender: refunded
    assert session.executions == 2
    # the session is shared by every chain's guard of the run
    other_chain = guard(store, session=session)
    assert ask(other_chain, store, opp("0x" + "c0" * 20)) is None
    assert ask(other_chain, store, opp("0x" + "c1" * 20)) is SkipReason.SESSION_CAP
    fresh = SessionTally(executions=0, notional_usd=Decimal("2450"))
    assert ask(guard(store, session=fresh), store, opp(usdc=51)) is SkipReason.SESSION_CAP
    assert ask(guard(store, session=fresh), store, opp(usdc=50)) is None


def test_notional_per_attempt_and_per_day(store: Store) -> None:
    g = guard(store)
    assert ask(g, store, opp(usdc=1001)) is SkipReason.NOTIONAL_CAP
    # a Morpho option carries no USD price (its oracle gives a ratio): the notional comes from the feed
    assert ask(g, store, opp(usdc=1001, debt_price=0)) is SkipReason.NOTIONAL_CAP
    row(store, S.INCLUDED, borrower=ALICE, usdc=900)
    row(store, S.REVERTED, borrower=ALICE, usdc=900)
    row(store, S.INCLUDED, borrower=ALICE, usdc=900, ago=timedelta(hours=25))  # yesterday
    row(store, S.SKIPPED, borrower=ALICE, usdc=900, reason="simulation_failed: x")  # never sent
    assert ask(guard(store), store, opp(usdc=201)) is SkipReason.NOTIONAL_CAP  # 1800 + 201 > 2000
    assert ask(guard(store), store, opp(usdc=200)) is None


def test_daily_gas_budget(store: Store) -> None:
    row(store, S.INCLUDED, borrower=ALICE, gas_usd=Decimal(4))
    row(store, S.REVERTED, borrower=ALICE, gas_usd=Decimal(5))
    row(store, S.INCLUDED, borrower=ALICE, gas_usd=Decimal(50), ago=timedelta(hours=25))
    assert ask(guard(store), store, opp(gas_usd=Decimal("1.01"))) is SkipReason.GAS_BUDGET
    assert ask(guard(store), store, opp(gas_usd=Decimal("1"))) is None


# ---- automatic trips ---------------------------------------------------------------------------------------


def tripped(store: Store, g: RiskGuard) -> str | None:
    trip = g.after_attempt(FACTS)
    return None if trip is None else trip.rule.value


def test_consecutive_reverts_engage_the_chain_switch_and_a_release_starts_afresh(store: Store) -> None:
    metrics = Metrics()
    g = guard(store, metrics=metrics)
    row(store, S.REVERTED, reason="reverted on chain: 0x01020304")
    row(store, S.LOST_RACE, on_chain=True, reason="reverted on chain: aave: 45")  # not a failure
    row(store, S.REVERTED, reason="reverted on chain: 0x01020304")
    assert tripped(store, g) is None
    row(store, S.REVERTED, reason="reverted on chain: 0x01020304")
    assert tripped(store, g) == "consecutive_reverts"
    switch = killswitch.blocking(store, CHAIN.name)
    assert switch is not None and switch.actor == "auto:consecutive_reverts"
    assert "3 reverts in a row" in switch.reason
    sample = metrics.registry.get_sample_value
    assert sample("liqbot_kill_switch_trips_total", {"chain": CHAIN.name, "rule": "consecutive_reverts"}) == 1
    assert sample("liqbot_kill_switch_engaged", {"scope": CHAIN.name}) == 1
    # engaged already: no second record
    assert tripped(store, g) is None
    with pytest.raises(ValueError, match="by hand"):
        killswitch.release(store, CHAIN.name, "x", "auto:consecutive_reverts")
    killswitch.release(store, CHAIN.name, "fixed the router", "cli:ops")
    g.publish()
    assert sample("liqbot_kill_switch_engaged", {"scope": CHAIN.name}) == 0
    assert tripped(store, guard(store)) is None  # the old streak is history now
    for _ in range(3):
        row(store, S.REVERTED, reason="reverted on chain: 0x01020304")
    assert tripped(store, guard(store)) == "consecutive_reverts"


def test_revert_rate_over_the_window_with_a_minimum_sample(store: Store) -> None:
    for end in (S.REVERTED, S.INCLUDED, S.REVERTED):
        row(store, end, reason="r")
    row(store, S.REVERTED, reason="r", ago=timedelta(hours=2))  # outside the 1 h window... but in the streak
    assert (
        tripped(store, guard(store, policy=POLICY.model_copy(update={"max_consecutive_reverts": 9}))) is None
    )
    row(store, S.INCLUDED)
    row(store, S.REVERTED, reason="r")
    assert killswitch.blocking(store, CHAIN.name) is None
    assert tripped(store, guard(store, policy=POLICY.model_copy(update={"max_consecutive_reverts": 9}))) == (
        "revert_rate"
    )  # 3 of 5 in the window
    assert "3 of 5 sends reverted" in killswitch.status(store, CHAIN.name).reason


def test_realized_loss_and_gas_spent(store: Store) -> None:
    row(store, S.INCLUDED, gas_usd=Decimal(6), realized_profit_usd=Decimal(1))
    row(store, S.REVERTED, gas_usd=Decimal(5), reason="r")
    assert tripped(store, guard(store)) is None  # 1 - 11 = -10: at the cap, not over it
    row(store, S.LOST_RACE, on_chain=True, gas_usd=Decimal("0.01"), reason="reverted on chain: aave: 46")
    assert tripped(store, guard(store)) == "realized_loss"
    assert "= $-10.01" in killswitch.status(store, CHAIN.name).reason


def test_gas_spent_over_the_cap(store: Store) -> None:
    row(store, S.INCLUDED, gas_usd=Decimal(15), realized_profit_usd=Decimal(100))
    row(store, S.INCLUDED, gas_usd=Decimal(5), realized_profit_usd=Decimal(100))
    assert tripped(store, guard(store)) is None
    row(store, S.INCLUDED, gas_usd=Decimal("0.01"), realized_profit_usd=Decimal(100))
    assert tripped(store, guard(store)) == "gas_spent"


@pytest.mark.parametrize("selector", sorted(FLASH_REPAY_SELECTORS))
def test_flash_repayment_failure_trips_at_once(store: Store, selector: str) -> None:
    row(store, S.REVERTED, mode="funds", reason=f"reverted on chain: {selector}")  # funds mode has no loan
    assert tripped(store, guard(store)) is None
    row(store, S.REVERTED, reason=f"reverted on chain: {selector}")
    assert tripped(store, guard(store)) == "flash_repay_failure"
    assert killswitch.status(store, CHAIN.name).actor == "auto:flash_repay_failure"


def test_trips_never_look_at_other_chains(store: Store) -> None:
    for _ in range(4):
        i = store.record_detected(
            chain_id=1, protocol="aave_v3", market="0x" + "aa" * 20, borrower=BOB, mode="flash",
            collateral_asset=WETH, debt_asset=USDC, debt_to_cover=1, expected_seized=1,
            expected_profit_usd=Decimal(5), detected_block=next(_blocks),
        )  # fmt: skip
        store.advance(i, S.SIMULATED)
        store.advance(i, S.SUBMITTED, tx_hash=f"0x{next(_hashes):064x}", nonce=1)
        store.advance(i, S.REVERTED, reason="r")
    assert tripped(store, guard(store)) is None
    assert killswitch.blocking(store, CHAIN.name) is None
