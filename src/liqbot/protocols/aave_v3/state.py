"""The local copy of one Aave V3 pool: reserves, prices and every tracked user's scaled balances.

Pure. Loaded from a snapshot at one block, then moved forward by the pool's own events with the same
integer rounding the tokens use (ScaledBalanceTokenBase._mintScaled/_burnScaled, AToken._transfer), so the
health factor computed from it equals getUserAccountData to the wei."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from liqbot.core.fixed import ray_div
from liqbot.protocols.aave_v3 import events as ev
from liqbot.protocols.aave_v3.liquidation import AaveRevision
from liqbot.protocols.aave_v3.math import AccountData, EModeCategory, Market, UserPosition, UserReserve
from liqbot.protocols.aave_v3.math import user_account_data as _account_data
from liqbot.protocols.aave_v3.reserve import ReserveState, StableDebt, UserConfig


@dataclass(frozen=True)
class ReserveMeta:
    id: int
    asset: str
    a_token: str
    stable_debt_token: str
    variable_debt_token: str
    price_source: str


@dataclass
class UserState:
    collateral_bits: int = 0  # UserConfigurationMap's odd bits only; borrowing bits follow the balances
    emode: int = 0
    scaled_a: dict[int, int] = field(default_factory=dict)
    scaled_v: dict[int, int] = field(default_factory=dict)
    stable: dict[int, StableDebt] = field(default_factory=dict)

    def config(self) -> UserConfig:
        data = self.collateral_bits
        for rid, amount in self.scaled_v.items():
            if amount:
                data |= 1 << (rid << 1)
        for rid, sd in self.stable.items():
            if sd.principal:
                data |= 1 << (rid << 1)
        return UserConfig(data)

    def has_debt(self) -> bool:
        return any(self.scaled_v.values()) or any(s.principal for s in self.stable.values())


@dataclass
class AaveState:
    pool: str
    revision: AaveRevision
    reserves: dict[int, ReserveMeta]
    reserve_state: dict[int, ReserveState]
    prices: dict[int, int]
    emode: dict[int, EModeCategory]
    emode_sources: dict[int, str] = field(default_factory=dict)  # category → price source (if any)
    users: dict[str, UserState] = field(default_factory=dict)
    block: int = 0
    timestamp: int = 0
    flash_premium_bps: int = 0  # Pool.FLASHLOAN_PREMIUM_TOTAL
    needs_resync: set[str] = field(default_factory=set)  # users whose stable debt moved: re-read them
    needs_reload: bool = False  # a configurator/provider event: re-read the market's static data

    def __post_init__(self) -> None:
        self._by_token: dict[str, tuple[int, str]] = {}
        self._by_asset: dict[str, int] = {}
        self._by_source: dict[str, list[int]] = {}
        for r in self.reserves.values():
            self._by_token[r.a_token] = (r.id, "a")
            self._by_token[r.variable_debt_token] = (r.id, "v")
            self._by_token[r.stable_debt_token] = (r.id, "s")
            self._by_asset[r.asset] = r.id
            self._by_source.setdefault(r.price_source, []).append(r.id)

    # --- lookups ------------------------------------------------------------------------------------
    def reserve_id(self, asset: str) -> int | None:
        return self._by_asset.get(asset)

    def token_addresses(self) -> list[str]:
        return list(self._by_token)

    def price_sources(self) -> list[str]:
        return [s for s in self._by_source if int(s, 16) != 0]

    def user(self, address: str) -> UserState:
        u = self.users.get(address)
        if u is None:
            u = self.users[address] = UserState()
        return u

    # --- the protocol's views, computed locally -----------------------------------------------------
    def market(self) -> Market:
        return Market(self.reserve_state, self.prices, self.emode)

    def position(self, address: str) -> UserPosition:
        u = self.users.get(address) or UserState()
        ids = set(u.scaled_a) | set(u.scaled_v) | set(u.stable)
        reserves = {
            rid: UserReserve(u.scaled_a.get(rid, 0), u.scaled_v.get(rid, 0), u.stable.get(rid, StableDebt()))
            for rid in ids
        }
        return UserPosition(u.config(), u.emode, reserves)

    def account_data(self, address: str, timestamp: int | None = None) -> AccountData:
        return _account_data(self.market(), self.position(address), timestamp or self.timestamp)

    # --- events ---------------------------------------------------------------------------------------
    def apply(self, event: ev.Event, block: int, timestamp: int) -> set[str]:
        """Apply one event (in log order); return the users whose position changed."""
        self.block, self.timestamp = max(self.block, block), max(self.timestamp, timestamp)
        match event:
            case ev.ScaledMint() | ev.ScaledBurn() | ev.BalanceTransfer():
                return self._apply_balance(event)
            case ev.ReserveDataUpdated():
                rid = self._by_asset.get(event.asset)
                if rid is not None:
                    self.reserve_state[rid] = replace(
                        self.reserve_state[rid],
                        liquidity_index=event.liquidity_index,
                        current_liquidity_rate=event.liquidity_rate,
                        variable_borrow_index=event.variable_borrow_index,
                        current_variable_borrow_rate=event.variable_borrow_rate,
                        current_stable_borrow_rate=event.stable_borrow_rate,
                        last_update_timestamp=timestamp,
                    )
                return set()
            case ev.CollateralToggled():
                rid = self._by_asset.get(event.asset)
                if rid is None:
                    return set()
                u, bit = self.user(event.user), 1 << ((rid << 1) + 1)
                u.collateral_bits = u.collateral_bits | bit if event.enabled else u.collateral_bits & ~bit
                return {event.user}
            case ev.EModeSet():
                self.user(event.user).emode = event.category
                return {event.user}
            case ev.StableDebtTouched():
                self.needs_resync.add(event.user)
                return {event.user}
            case ev.AnswerUpdated():
                if event.answer <= 0:  # AaveOracle falls back when the source answers <= 0: re-read
                    self.needs_reload = True
                    return set()
                for rid in self._by_source.get(event.feed, []):
                    self.prices[rid] = event.answer
                for cat, source in self.emode_sources.items():
                    if source == event.feed:
                        self.emode[cat] = replace(self.emode[cat], price=event.answer)
                return set()
            case ev.ConfigChanged():
                self.needs_reload = True
                return set()
        return set()

    def _apply_balance(self, event: ev.ScaledMint | ev.ScaledBurn | ev.BalanceTransfer) -> set[str]:
        found = self._by_token.get(event.token)
        if found is None:
            return set()
        rid, kind = found
        if kind == "s":
            return set()
        book = "scaled_a" if kind == "a" else "scaled_v"
        if isinstance(event, ev.BalanceTransfer):
            for who, delta in ((event.sender, -event.scaled), (event.recipient, event.scaled)):
                bal = getattr(self.user(who), book)
                bal[rid] = bal.get(rid, 0) + delta
            return {event.sender, event.recipient}
        if isinstance(event, ev.ScaledMint):
            who = event.on_behalf_of
            # _mintScaled emits value = amount + increase; _burnScaled emits Mint(increase - amount) when
            # interest exceeds the burn; a transfer emits Mint(value == increase) with no scaled change.
            if event.value >= event.balance_increase:
                delta = ray_div(event.value - event.balance_increase, event.index)
            else:
                delta = -ray_div(event.balance_increase - event.value, event.index)
        else:
            who = event.user
            delta = -ray_div(event.value + event.balance_increase, event.index)
        bal = getattr(self.user(who), book)
        bal[rid] = bal.get(rid, 0) + delta
        return {who}
