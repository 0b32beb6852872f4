"""Decode the Morpho Blue logs that move market or position state (EventsLib.sol). Pure: a raw log dict in,
a typed event out; plus the discovery rule (which (market, account) pairs a log touches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address

from liqbot.contracts import topic
from liqbot.protocols.morpho_blue.math import ZERO_ADDRESS, MarketParams


@dataclass(frozen=True)
class CreateMarket:
    id: str
    params: MarketParams


@dataclass(frozen=True)
class Supply:
    id: str
    on_behalf: str
    assets: int
    shares: int


@dataclass(frozen=True)
class Withdraw:
    id: str
    on_behalf: str
    assets: int
    shares: int


@dataclass(frozen=True)
class Borrow:
    id: str
    on_behalf: str
    assets: int
    shares: int


@dataclass(frozen=True)
class Repay:
    id: str
    on_behalf: str
    assets: int
    shares: int


@dataclass(frozen=True)
class SupplyCollateral:
    id: str
    on_behalf: str
    assets: int


@dataclass(frozen=True)
class WithdrawCollateral:
    id: str
    on_behalf: str
    assets: int


@dataclass(frozen=True)
class Liquidate:
    id: str
    borrower: str
    repaid_assets: int
    repaid_shares: int
    seized_assets: int
    bad_debt_assets: int
    bad_debt_shares: int


@dataclass(frozen=True)
class AccrueInterest:
    id: str
    prev_borrow_rate: int
    interest: int
    fee_shares: int


@dataclass(frozen=True)
class SetFee:
    id: str
    new_fee: int


@dataclass(frozen=True)
class SetFeeRecipient:
    recipient: str


MarketEvent = (
    Supply
    | Withdraw
    | Borrow
    | Repay
    | SupplyCollateral
    | WithdrawCollateral
    | Liquidate
    | AccrueInterest
    | SetFee
)
Event = MarketEvent | CreateMarket | SetFeeRecipient

T_CREATE_MARKET = topic("Morpho", "CreateMarket")
T_SUPPLY = topic("Morpho", "Supply")
T_WITHDRAW = topic("Morpho", "Withdraw")
T_BORROW = topic("Morpho", "Borrow")
T_REPAY = topic("Morpho", "Repay")
T_SUPPLY_COLLATERAL = topic("Morpho", "SupplyCollateral")
T_WITHDRAW_COLLATERAL = topic("Morpho", "WithdrawCollateral")
T_LIQUIDATE = topic("Morpho", "Liquidate")
T_ACCRUE_INTEREST = topic("Morpho", "AccrueInterest")
T_SET_FEE = topic("Morpho", "SetFee")
T_SET_FEE_RECIPIENT = topic("Morpho", "SetFeeRecipient")

# topic0 → index of the topic naming the position's owner (topics[1] is always the market id). In
# Withdraw/Borrow/WithdrawCollateral the caller is not indexed, so onBehalf is topics[2].
_OWNER_TOPIC = {
    T_SUPPLY: 3,
    T_WITHDRAW: 2,
    T_BORROW: 2,
    T_REPAY: 3,
    T_SUPPLY_COLLATERAL: 3,
    T_WITHDRAW_COLLATERAL: 2,
    T_LIQUIDATE: 3,
}


def _addr(word: str) -> str:
    return str(to_checksum_address("0x" + word[-40:]))


def _uints(log: dict[str, Any], n: int, skip: int = 0) -> list[int]:
    """`n` uint256 words of the data, after `skip` leading words (an unindexed caller address)."""
    data = bytes.fromhex(str(log["data"]).removeprefix("0x"))
    return [int(x) for x in decode(["uint256"] * (skip + n), data)[skip:]]


def _topics(log: dict[str, Any]) -> list[str]:
    return [str(t).lower() for t in log.get("topics") or []]


def positions_in(log: dict[str, Any]) -> list[tuple[str, str]]:
    """(market id, account) of the position a log changes: the discovery rule."""
    topics = _topics(log)
    idx = _OWNER_TOPIC.get(topics[0]) if topics else None
    if idx is None or idx >= len(topics):
        return []
    owner = _addr(topics[idx])
    return [] if owner == ZERO_ADDRESS else [(topics[1], owner)]


def decode_log(log: dict[str, Any]) -> Event | None:
    """The typed event for a Morpho log we track, or None (FlashLoan, authorizations, owner changes…)."""
    topics = _topics(log)
    if not topics:
        return None
    t0 = topics[0]
    if t0 == T_ACCRUE_INTEREST:
        return AccrueInterest(topics[1], *_uints(log, 3))
    if t0 in (T_SUPPLY, T_REPAY):
        assets, shares = _uints(log, 2)
        kind = Supply if t0 == T_SUPPLY else Repay
        return kind(topics[1], _addr(topics[3]), assets, shares)
    if t0 in (T_WITHDRAW, T_BORROW):
        assets, shares = _uints(log, 2, skip=1)
        kind2 = Withdraw if t0 == T_WITHDRAW else Borrow
        return kind2(topics[1], _addr(topics[2]), assets, shares)
    if t0 == T_SUPPLY_COLLATERAL:
        return SupplyCollateral(topics[1], _addr(topics[3]), *_uints(log, 1))
    if t0 == T_WITHDRAW_COLLATERAL:
        return WithdrawCollateral(topics[1], _addr(topics[2]), *_uints(log, 1, skip=1))
    if t0 == T_LIQUIDATE:
        return Liquidate(topics[1], _addr(topics[3]), *_uints(log, 5))
    if t0 == T_CREATE_MARKET:
        data = bytes.fromhex(str(log["data"]).removeprefix("0x"))
        loan, coll, oracle, irm, lltv = decode(["address", "address", "address", "address", "uint256"], data)
        params = MarketParams(_addr(loan), _addr(coll), _addr(oracle), _addr(irm), int(lltv))
        return CreateMarket(topics[1], params)
    if t0 == T_SET_FEE:
        return SetFee(topics[1], *_uints(log, 1))
    if t0 == T_SET_FEE_RECIPIENT:
        return SetFeeRecipient(_addr(topics[1]))
    return None
