"""The local copy of Morpho Blue markets: per market its params and totals, per (market, account) its
position, and per block the oracle price and IRM rate.

Pure. Loaded from a snapshot at one block, then moved by Morpho's own events, which carry every amount
exactly as the contract applied it (EventsLib.sol), so the totals and positions equal `market(id)` and
`position(id, user)` to the wei. The only thing events cannot give is what a *later* block would accrue:
that is `accrued()`, with the IRM rate read once per market per block."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from liqbot.core.errors import SkipError
from liqbot.core.fixed import MAX_UINT256
from liqbot.protocols.morpho_blue import events as ev
from liqbot.protocols.morpho_blue.math import (
    ZERO_ADDRESS,
    Market,
    MarketParams,
    Position,
    accrue_interest,
    health_factor,
    zero_floor_sub,
)

Pair = tuple[str, str]  # (market id, account)


@dataclass
class MorphoState:
    morpho: str
    params: dict[str, MarketParams]
    markets: dict[str, Market]
    positions: dict[Pair, Position] = field(default_factory=dict)
    fee_recipient: str = ZERO_ADDRESS
    watch_all: bool = False  # True: every market CreateMarket announces joins the state
    prices: dict[str, int | None] = field(default_factory=dict)  # oracle price() at `block`; None: reverted
    rates: dict[str, int | None] = field(default_factory=dict)  # IRM borrowRateView at `block`
    decimals: dict[str, int] = field(default_factory=dict)  # token → decimals (absent: unreadable)
    block: int = 0
    timestamp: int = 0
    needs_resync: set[Pair] = field(default_factory=set)  # positions to re-read from the chain
    new_markets: set[str] = field(default_factory=set)  # created since the last repair

    # --- lookups ------------------------------------------------------------------------------------
    def position(self, pair: Pair) -> Position:
        return self.positions.get(pair) or Position()

    def users(self) -> set[str]:
        return {u for _, u in self.positions}

    def tokens(self) -> set[str]:
        return {
            t for p in self.params.values() for t in (p.loan_token, p.collateral_token) if t != ZERO_ADDRESS
        }

    def accrued(self, market_id: str, timestamp: int | None = None) -> Market | None:
        """The market as `_accrueInterest` would leave it at `timestamp` (None if the rate is unknown)."""
        market, params = self.markets[market_id], self.params[market_id]
        ts = max(timestamp or self.timestamp, market.last_update)
        has_irm = params.irm != ZERO_ADDRESS
        rate = self.rates.get(market_id) if has_irm else 0
        if rate is None:
            return None
        try:
            return accrue_interest(market, rate, ts, has_irm=has_irm).market
        except SkipError:  # the accrual itself would revert: nothing can happen in this market
            return None

    def health(self, pair: Pair, timestamp: int | None = None) -> int | None:
        """Exact health factor (wad) at `timestamp` (default: the state's block); None if unknowable
        (no price or rate) or if Morpho's own check would revert."""
        market_id = pair[0]
        pos = self.position(pair)
        if pos.borrow_shares == 0:
            return MAX_UINT256
        price, market = self.prices.get(market_id), self.accrued(market_id, timestamp)
        if price is None or market is None:
            return None
        try:
            return health_factor(pos, market, price, self.params[market_id].lltv)
        except SkipError:  # _isHealthy itself would revert (collateral * price overflows)
            return None

    # --- events -------------------------------------------------------------------------------------
    def apply(self, event: ev.Event, timestamp: int) -> set[Pair]:
        """Apply one event (in log order) mined at `timestamp`; return the positions it changed."""
        if isinstance(event, ev.CreateMarket):
            if self.watch_all and event.id not in self.markets:
                self.params[event.id], self.markets[event.id] = event.params, Market(last_update=timestamp)
                self.new_markets.add(event.id)
            return set()
        if isinstance(event, ev.SetFeeRecipient):
            self.fee_recipient = who = event.recipient
            if who != ZERO_ADDRESS:  # its earlier shares came without events: read them
                self.needs_resync |= {(m, who) for m in self.markets}
            return set()
        if event.id not in self.markets:
            return set()
        return self._apply_market(event, timestamp)

    def _apply_market(self, event: ev.MarketEvent, timestamp: int) -> set[Pair]:
        mid = event.id
        m = self.markets[mid]
        match event:
            case ev.AccrueInterest(interest=interest, fee_shares=fee_shares):
                # _accrueInterest: the interest goes to both totals, fee shares to the fee recipient.
                self.markets[mid] = replace(
                    m,
                    total_borrow_assets=m.total_borrow_assets + interest,
                    total_supply_assets=m.total_supply_assets + interest,
                    total_supply_shares=m.total_supply_shares + fee_shares,
                    last_update=timestamp,
                )
                pair = (mid, self.fee_recipient)
                if fee_shares and pair in self.positions:
                    self._move(pair, supply_shares=fee_shares)
                    return {pair}
                return set()
            case ev.SetFee(new_fee=fee):
                self.markets[mid] = replace(m, fee=fee, last_update=timestamp)
                return set()
            case ev.Supply(on_behalf=who, assets=a, shares=s):
                self._totals(mid, timestamp, supply_assets=a, supply_shares=s)
                return self._move((mid, who), supply_shares=s)
            case ev.Withdraw(on_behalf=who, assets=a, shares=s):
                self._totals(mid, timestamp, supply_assets=-a, supply_shares=-s)
                return self._move((mid, who), supply_shares=-s)
            case ev.Borrow(on_behalf=who, assets=a, shares=s):
                self._totals(mid, timestamp, borrow_assets=a, borrow_shares=s)
                return self._move((mid, who), borrow_shares=s)
            case ev.Repay(on_behalf=who, assets=a, shares=s):
                # `assets` may exceed totalBorrowAssets by 1: the contract floors at zero.
                tba = zero_floor_sub(m.total_borrow_assets, a)
                self._totals(mid, timestamp, borrow_assets=tba - m.total_borrow_assets, borrow_shares=-s)
                return self._move((mid, who), borrow_shares=-s)
            case ev.SupplyCollateral(on_behalf=who, assets=a):
                return self._move((mid, who), collateral=a)  # no accrual: lastUpdate unchanged
            case ev.WithdrawCollateral(on_behalf=who, assets=a):
                self._totals(mid, timestamp)
                return self._move((mid, who), collateral=-a)
            case ev.Liquidate():
                return self._liquidate(event, timestamp)
        return set()

    def _liquidate(self, e: ev.Liquidate, timestamp: int) -> set[Pair]:
        m = self.markets[e.id]
        tba = zero_floor_sub(m.total_borrow_assets, e.repaid_assets) - e.bad_debt_assets
        self.markets[e.id] = replace(
            m,
            total_borrow_assets=tba,
            total_borrow_shares=m.total_borrow_shares - e.repaid_shares - e.bad_debt_shares,
            total_supply_assets=m.total_supply_assets - e.bad_debt_assets,
            last_update=timestamp,
        )
        # badDebtShares is the whole remainder (the position is left with no borrow shares).
        shares = -e.repaid_shares - e.bad_debt_shares
        return self._move((e.id, e.borrower), borrow_shares=shares, collateral=-e.seized_assets)

    def _totals(
        self,
        mid: str,
        timestamp: int,
        *,
        supply_assets: int = 0,
        supply_shares: int = 0,
        borrow_assets: int = 0,
        borrow_shares: int = 0,
    ) -> None:
        m = self.markets[mid]
        self.markets[mid] = replace(
            m,
            total_supply_assets=m.total_supply_assets + supply_assets,
            total_supply_shares=m.total_supply_shares + supply_shares,
            total_borrow_assets=m.total_borrow_assets + borrow_assets,
            total_borrow_shares=m.total_borrow_shares + borrow_shares,
            last_update=timestamp,  # every accruing entry point stamps lastUpdate, even without an IRM
        )

    def _move(
        self, pair: Pair, *, supply_shares: int = 0, borrow_shares: int = 0, collateral: int = 0
    ) -> set[Pair]:
        p = self.position(pair)
        self.positions[pair] = Position(
            p.supply_shares + supply_shares, p.borrow_shares + borrow_shares, p.collateral + collateral
        )
        return {pair}
