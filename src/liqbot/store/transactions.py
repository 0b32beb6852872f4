"""Every transaction we sign, stored before it is broadcast: the original, fee-bumped replacements, cancels.

A crash at any moment then leaves, for each nonce we may hold on chain, the exact signed bytes and hashes
to look for: recovery (liqbot.execution.recover) finds which one was mined, or sends them again.
Insert-only; a hash is stored once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from liqbot.store.attempts import Store, utcnow
from liqbot.store.models import Base, UtcDateTime, clean_value

TxKind = Literal["original", "replacement", "cancel"]
TX_KINDS: tuple[TxKind, ...] = ("original", "replacement", "cancel")


class AttemptTxRow(Base):
    """One signed transaction of an attempt. Hex strings are stored lowercase."""

    __tablename__ = "attempt_transactions"
    __table_args__ = (
        Index("ix_attempt_transactions_attempt_id", "attempt_id"),
        Index("ix_attempt_transactions_sender_nonce", "sender", "nonce"),
        CheckConstraint("kind IN ('original', 'replacement', 'cancel')", name="ck_attempt_transactions_kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("liquidation_attempts.id")
    )
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(12))  # a TxKind
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # the signed bytes, ready to broadcast again
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclasses.dataclass(frozen=True, slots=True)
class AttemptTx:
    id: int
    attempt_id: int
    tx_hash: str
    nonce: int
    sender: str
    kind: TxKind
    raw: bytes
    created_at: datetime


def record_tx(
    store: Store, attempt_id: int, *, tx_hash: str, nonce: int, sender: str, kind: TxKind, raw: bytes
) -> None:
    """Store a signed transaction (call it before the broadcast). The same hash again changes nothing."""
    if kind not in TX_KINDS:
        raise ValueError(f"unknown transaction kind {kind!r}")
    values = {
        "attempt_id": attempt_id,
        "tx_hash": clean_value("tx_hash", tx_hash),
        "nonce": clean_value("nonce", nonce),
        "sender": clean_value("sender", sender),
        "kind": kind,
        "raw": bytes(raw),
        "created_at": utcnow(),
    }
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AttemptTxRow).values(**values).on_conflict_do_nothing(index_elements=["tx_hash"])
    with store.engine.begin() as conn:
        conn.execute(stmt)


def attempt_txs(store: Store, attempt_ids: int | Iterable[int]) -> list[AttemptTx]:
    """The signed transactions of these attempts, oldest first."""
    ids = [attempt_ids] if isinstance(attempt_ids, int) else list(attempt_ids)
    q = select(AttemptTxRow).where(AttemptTxRow.attempt_id.in_(ids)).order_by(AttemptTxRow.id)
    with Session(store.engine) as s:
        return [
            AttemptTx(
                r.id, r.attempt_id, r.tx_hash, r.nonce, r.sender, _kind(r.kind), bytes(r.raw), r.created_at
            )
            for r in s.scalars(q)
        ]


def _kind(value: str) -> TxKind:
    for k in TX_KINDS:
        if k == value:
            return k
    raise ValueError(f"unknown transaction kind {value!r} in the database")
