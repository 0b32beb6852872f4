"""Tables (SQLAlchemy 2 declarative), the exact column types they need, and the frozen rows callers get back.

Exactness on SQLite: a NUMERIC column there has numeric affinity, so a 78-digit integer is stored as an
8-byte REAL (2**255 + 1 comes back as 2**255; 2**255 itself survives only because it is a power of two).
Token amounts and USD values therefore go through `Uint256` / `Usd`, which are NUMERIC on PostgreSQL and
decimal text on SQLite. Timestamps go through `UtcDateTime`: naive datetimes are refused, aware UTC comes
back.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from liqbot.store.status import AttemptMode, AttemptStatus, Outcome, Protocol

UINT256_MAX = 2**256 - 1
USD_SCALE = 18
USD_LIMIT = Decimal(10) ** (38 - USD_SCALE)  # Numeric(38, 18): 20 digits before the point
_USD_QUANTUM = Decimal(1).scaleb(-USD_SCALE)
_WIDE = Context(prec=80)  # the default context (28 digits) would round a 38-digit value


def check_uint256(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a token amount must be an int, not {type(value).__name__}")
    if not 0 <= value <= UINT256_MAX:
        raise ValueError(f"{value} is outside uint256")
    return value


def check_usd(value: object) -> Decimal:
    """Decimal or int, exact; floats are refused rather than silently carrying binary noise."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"a USD value must be a Decimal or int, not {type(value).__name__}")
    try:
        d = Decimal(value).quantize(_USD_QUANTUM, context=_WIDE)
    except InvalidOperation:
        raise ValueError(f"{value} is not a finite USD amount") from None
    if abs(d) >= USD_LIMIT:
        raise ValueError(f"{value} is too large for Numeric(38, {USD_SCALE})")
    return d


class Uint256(TypeDecorator[int]):
    """uint256 as NUMERIC(78, 0) on PostgreSQL, decimal text on SQLite; always an int in Python."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        v = check_uint256(value)
        return str(v) if dialect.name == "sqlite" else Decimal(v)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class Usd(TypeDecorator[Decimal]):
    """USD as NUMERIC(38, 18) on PostgreSQL, decimal text on SQLite; quantized to 18 places on the way in."""

    impl = Numeric(38, USD_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(48))
        return dialect.type_descriptor(Numeric(38, USD_SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = check_usd(value)
        return str(d) if dialect.name == "sqlite" else d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. SQLite keeps no offset, so values are stored as UTC and tagged UTC on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass an aware one (UTC)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: type[Any]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX_FIELDS = {
    "market": (_ADDRESS, _HASH),  # a pool / comet address, or a Morpho market id
    "borrower": (_ADDRESS,),
    "collateral_asset": (_ADDRESS,),
    "debt_asset": (_ADDRESS,),
    "sender": (_ADDRESS,),
    "tx_hash": (_HASH,),
    "outcome_tx": (_HASH,),
}


class Base(DeclarativeBase):
    pass


class AttemptRow(Base):
    """One decision to liquidate (or not) and everything that followed. Hex strings are stored lowercase."""

    __tablename__ = "liquidation_attempts"
    __table_args__ = (
        Index("ix_liquidation_attempts_chain_status", "chain_id", "status"),
        Index("ix_liquidation_attempts_created_at", "created_at"),
        Index("ix_liquidation_attempts_borrower", "borrower"),
        UniqueConstraint("opportunity_key", name="uq_liquidation_attempts_opportunity_key"),
        CheckConstraint(_in("status", AttemptStatus), name="ck_liquidation_attempts_status"),
        CheckConstraint(_in("mode", AttemptMode), name="ck_liquidation_attempts_mode"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # chain:protocol:market:borrower:detected_block; unique, so a restart never records a decision twice
    opportunity_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())  # when we decided
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    chain_id: Mapped[int] = mapped_column(BigInteger)
    protocol: Mapped[str] = mapped_column(String(32))  # a Protocol; checked in Python, the list grows
    market: Mapped[str] = mapped_column(String(66))  # pool / comet address, or Morpho market id (bytes32)
    borrower: Mapped[str] = mapped_column(String(42))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    collateral_asset: Mapped[str] = mapped_column(String(42))
    debt_asset: Mapped[str] = mapped_column(String(42))
    debt_to_cover: Mapped[int] = mapped_column(Uint256())  # debt token units
    expected_seized: Mapped[int] = mapped_column(Uint256())  # collateral token units
    # expected_profit_usd = bonus_usd - swap_usd - gas_usd - fees_usd; the parts are costs as positive numbers
    expected_profit_usd: Mapped[Decimal] = mapped_column(Usd())
    bonus_usd: Mapped[Decimal | None] = mapped_column(Usd())
    swap_usd: Mapped[Decimal | None] = mapped_column(Usd())
    gas_usd: Mapped[Decimal | None] = mapped_column(Usd())
    fees_usd: Mapped[Decimal | None] = mapped_column(Usd())  # flash-loan premium, protocol fee
    health_factor: Mapped[int | None] = mapped_column(Uint256())  # wad; null where the protocol has none
    detected_block: Mapped[int] = mapped_column(BigInteger)
    # ms from the price-update block's timestamp (or the event's receipt) to the decision
    detection_latency_ms: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped / failed / reverted / lost
    simulated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sender: Mapped[str | None] = mapped_column(String(42))  # a nonce means nothing without its account
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    included_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    included_block: Mapped[int | None] = mapped_column(BigInteger)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    effective_gas_price: Mapped[int | None] = mapped_column(Uint256())  # wei
    realized_profit_usd: Mapped[Decimal | None] = mapped_column(Usd())
    # how many times a reorg sent it back to submitted
    reorg_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # reconciliation: what happened to the position afterwards (shadow rows, lost races)
    reconciled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(24))  # an Outcome
    outcome_block: Mapped[int | None] = mapped_column(BigInteger)
    outcome_tx: Mapped[str | None] = mapped_column(String(66))
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # block time; minus created_at = delay


class CursorRow(Base):
    """Where a detection stream resumes: the last block it fully processed, per chain and stream."""

    __tablename__ = "sync_cursors"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. "aave_v3:0xpool"
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))  # to notice a reorg under the cursor on resume
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TrackedAccountRow(Base):
    """Accounts a detection stream discovered, so a restart resumes from its cursor without rediscovery."""

    __tablename__ = "tracked_accounts"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)  # lowercase 0x-hex


class KillSwitchEventRow(Base):
    """Every engage and release, never updated: the switch's state is the newest event per scope."""

    __tablename__ = "kill_switch_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    scope: Mapped[str] = mapped_column(String(64), index=True)  # "global" or a chain name
    engaged: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))  # "cli:<user>", "auto:<rule>", "file:<path>"
    at: Mapped[datetime] = mapped_column(UtcDateTime())


THRESHOLD_SOURCES = ("adaptive", "fallback", "static", "release")


class ThresholdHistoryRow(Base):
    """Every change of a chain × protocol's thresholds, never updated: the newest row is the state. A
    `fallback` row pins the static defaults until a `release` row (see store/thresholds.py)."""

    __tablename__ = "threshold_history"
    __table_args__ = (
        Index("ix_threshold_history_chain_protocol", "chain_id", "protocol", "id"),
        CheckConstraint(
            f"source IN ({', '.join(repr(s) for s in THRESHOLD_SOURCES)})", name="ck_threshold_history_source"
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chain_id: Mapped[int] = mapped_column(BigInteger)
    protocol: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    min_profit_usd: Mapped[Decimal] = mapped_column(Usd())
    priority_fee_profit_share: Mapped[Decimal] = mapped_column(Usd())
    source: Mapped[str] = mapped_column(String(16))  # adaptive | fallback | static | release
    actor: Mapped[str] = mapped_column(String(200))  # "engine", "cli:<user>"
    reason: Mapped[str] = mapped_column(Text)  # the explanation, or the operator's reason
    stats: Mapped[str] = mapped_column(Text)  # JSON: the window the change was computed from ("{}" if none)


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt as read; detached from any session. Field meanings are on AttemptRow."""

    id: int
    opportunity_key: str
    created_at: datetime
    updated_at: datetime
    chain_id: int
    protocol: Protocol
    market: str
    borrower: str
    mode: AttemptMode
    status: AttemptStatus
    collateral_asset: str
    debt_asset: str
    debt_to_cover: int
    expected_seized: int
    expected_profit_usd: Decimal
    bonus_usd: Decimal | None
    swap_usd: Decimal | None
    gas_usd: Decimal | None
    fees_usd: Decimal | None
    health_factor: int | None
    detected_block: int
    detection_latency_ms: int | None
    reason: str | None
    simulated_at: datetime | None
    submitted_at: datetime | None
    sender: str | None
    tx_hash: str | None
    nonce: int | None
    included_at: datetime | None
    included_block: int | None
    gas_used: int | None
    effective_gas_price: int | None
    realized_profit_usd: Decimal | None
    reorg_count: int
    reconciled_at: datetime | None
    outcome: Outcome | None
    outcome_block: int | None
    outcome_tx: str | None
    outcome_at: datetime | None

    @classmethod
    def from_row(cls, row: AttemptRow) -> Attempt:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
        values["protocol"] = Protocol(row.protocol)
        values["mode"] = AttemptMode(row.mode)
        values["status"] = AttemptStatus(row.status)
        values["outcome"] = None if row.outcome is None else Outcome(row.outcome)
        return cls(**values)


ATTEMPT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Attempt))


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    chain_id: int
    stream: str
    block_number: int
    block_hash: str
    updated_at: datetime


def clean_value(name: str, value: Any) -> Any:
    """Check one column value before SQL sees it, so a bad value is a clear TypeError/ValueError here."""
    if value is None:
        return None
    column_type = AttemptRow.__table__.c[name].type
    if isinstance(column_type, Uint256):
        return check_uint256(value)
    if isinstance(column_type, Usd):
        return check_usd(value)
    if isinstance(column_type, UtcDateTime):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise TypeError(f"{name} must be an aware datetime, not {value!r}")
        return value.astimezone(UTC)
    if name in _HEX_FIELDS:
        if not isinstance(value, str) or not any(p.fullmatch(value) for p in _HEX_FIELDS[name]):
            raise ValueError(f"{name} must be 0x-prefixed hex of the right length, not {value!r}")
        return value.lower()
    if name == "reason":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name} must be a non-negative int, not {value!r}")
    return value
