"""Decode the Aave V3 logs the local state needs. Pure: a raw log dict in, a typed event out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address

from liqbot.contracts import topic


@dataclass(frozen=True)
class ScaledMint:
    """IScaledBalanceToken.Mint from an aToken or variable-debt token."""

    token: str
    on_behalf_of: str
    value: int
    balance_increase: int
    index: int


@dataclass(frozen=True)
class ScaledBurn:
    token: str
    user: str
    value: int
    balance_increase: int
    index: int


@dataclass(frozen=True)
class BalanceTransfer:
    """AToken.BalanceTransfer: `scaled` is amount.rayDiv(index), exactly what moves (core-v3 1.19.3)."""

    token: str
    sender: str
    recipient: str
    scaled: int
    index: int


@dataclass(frozen=True)
class ReserveDataUpdated:
    asset: str
    liquidity_rate: int
    stable_borrow_rate: int
    variable_borrow_rate: int
    liquidity_index: int
    variable_borrow_index: int


@dataclass(frozen=True)
class CollateralToggled:
    asset: str
    user: str
    enabled: bool


@dataclass(frozen=True)
class EModeSet:
    user: str
    category: int


@dataclass(frozen=True)
class StableDebtTouched:
    """Any StableDebtToken Mint/Burn: the user's stable debt is re-read from the chain (rare, deprecated)."""

    token: str
    user: str


@dataclass(frozen=True)
class AnswerUpdated:
    feed: str
    answer: int


@dataclass(frozen=True)
class ConfigChanged:
    """Any PoolConfigurator / provider event: the market's static data is re-read."""

    address: str


Event = (
    ScaledMint
    | ScaledBurn
    | BalanceTransfer
    | ReserveDataUpdated
    | CollateralToggled
    | EModeSet
    | StableDebtTouched
    | AnswerUpdated
    | ConfigChanged
)

T_MINT = topic("AToken", "Mint")
T_BURN = topic("AToken", "Burn")
T_BALANCE_TRANSFER = topic("AToken", "BalanceTransfer")
T_RESERVE_DATA = topic("Pool", "ReserveDataUpdated")
T_COLL_ON = topic("Pool", "ReserveUsedAsCollateralEnabled")
T_COLL_OFF = topic("Pool", "ReserveUsedAsCollateralDisabled")
T_EMODE = topic("Pool", "UserEModeSet")
T_STABLE_MINT = topic("StableDebtToken", "Mint")
T_STABLE_BURN = topic("StableDebtToken", "Burn")
T_ANSWER = topic("PriceFeed", "AnswerUpdated")
# OCR aggregators: NewTransmission(uint32 indexed roundId, int192 answer, ...): answer is data word 0.
T_NEW_TRANSMISSION = "0xc797025feeeaf2cd924c99e9205acb8ec04d5cad21c41ce637a38fb6dee6016a"


def _addr(word: str) -> str:
    return to_checksum_address("0x" + word[-40:])


def _data(log: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(log["data"]).removeprefix("0x"))


def decode_log(log: dict[str, Any], config_sources: frozenset[str] = frozenset()) -> Event | None:
    """The typed event for a log we track, or None for logs we do not need (Supply, Borrow, Transfer…)."""
    topics: list[str] = [str(t).lower() for t in log["topics"]]
    if not topics:
        return None
    t0, emitter = topics[0], to_checksum_address(log["address"])
    if emitter in config_sources:
        return ConfigChanged(emitter)
    if t0 == T_MINT:
        value, increase, index = decode(["uint256", "uint256", "uint256"], _data(log))
        return ScaledMint(emitter, _addr(topics[2]), value, increase, index)
    if t0 == T_BURN:
        value, increase, index = decode(["uint256", "uint256", "uint256"], _data(log))
        return ScaledBurn(emitter, _addr(topics[1]), value, increase, index)
    if t0 == T_BALANCE_TRANSFER:
        value, index = decode(["uint256", "uint256"], _data(log))
        return BalanceTransfer(emitter, _addr(topics[1]), _addr(topics[2]), value, index)
    if t0 == T_RESERVE_DATA:
        lr, sr, vr, li, vi = decode(["uint256"] * 5, _data(log))
        return ReserveDataUpdated(_addr(topics[1]), lr, sr, vr, li, vi)
    if t0 in (T_COLL_ON, T_COLL_OFF):
        return CollateralToggled(_addr(topics[1]), _addr(topics[2]), t0 == T_COLL_ON)
    if t0 == T_EMODE:
        (category,) = decode(["uint8"], _data(log))
        return EModeSet(_addr(topics[1]), category)
    if t0 in (T_STABLE_MINT, T_STABLE_BURN):
        return StableDebtTouched(emitter, _addr(topics[2] if t0 == T_STABLE_MINT else topics[1]))
    if t0 == T_ANSWER:
        return AnswerUpdated(emitter, int.from_bytes(bytes.fromhex(topics[1][2:]), "big", signed=True))
    if t0 == T_NEW_TRANSMISSION:
        (answer,) = decode(["int192"], _data(log)[:32])
        return AnswerUpdated(emitter, answer)
    return None
