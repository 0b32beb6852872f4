"""The attempts repository: record a decision, move it along its statuses, read it back, export it.

Every status change is one conditional UPDATE (`... WHERE id = :id AND status = :seen`) checked by rowcount,
so two processes can never both move the same attempt: the second one gets InvalidTransition.
"""

from __future__ import annotations

import builtins
import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite

from liqbot.core.errors import AttemptNotFoundError, InvalidTransition, StoreError
from liqbot.store.db import make_engine, migrate, redact, session_factory
from liqbot.store.models import (
    ATTEMPT_FIELDS,
    Attempt,
    AttemptRow,
    Cursor,
    CursorRow,
    Uint256,
    clean_value,
)
from liqbot.store.status import AttemptMode, AttemptStatus, Outcome, Protocol, check_transition

ExportFormat = Literal["jsonl", "csv"]
StatusFilter = AttemptStatus | str | Iterable[AttemptStatus | str] | None

# What a status change may also write. Identity (chain, market, borrower, block, mode) never changes.
_ADVANCE_FIELDS = frozenset({
    "reason", "sender", "tx_hash", "nonce", "simulated_at", "submitted_at", "included_at", "included_block",
    "gas_used", "effective_gas_price", "realized_profit_usd",
    "debt_to_cover", "expected_seized", "expected_profit_usd", "bonus_usd", "swap_usd", "gas_usd", "fees_usd",
})  # fmt: skip
# Entering these statuses stamps the time, unless the caller gives it.
_STAMPS = {
    AttemptStatus.SIMULATED: "simulated_at",
    AttemptStatus.SUBMITTED: "submitted_at",
    AttemptStatus.INCLUDED: "included_at",
}
# What inclusion wrote and a reorg makes untrue.
_RECEIPT_FIELDS = ("included_at", "included_block", "gas_used", "effective_gas_price", "realized_profit_usd")


def utcnow() -> datetime:
    return datetime.now(UTC)


def opportunity_key(chain_id: int, protocol: str, market: str, borrower: str, detected_block: int) -> str:
    """One decision per position per detection block (hex lowercased, so case can't make a twin)."""
    return f"{chain_id}:{protocol}:{market.lower()}:{borrower.lower()}:{detected_block}"


def _clean_all(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"{what} cannot set {', '.join(unknown)}")
    return {k: clean_value(k, v) for k, v in fields.items()}


def _statuses(status: StatusFilter) -> list[AttemptStatus]:
    if status is None:
        return []
    items = [status] if isinstance(status, str) else list(status)
    return [AttemptStatus(s) for s in items]


class Store:
    """The attempts database. Build it with `open_store(url)`; every method runs in its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._dialect = engine.dialect.name

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({redact(self.engine.url)})"

    # ---- writes -------------------------------------------------------------------------------------------

    def record_detected(
        self,
        *,
        chain_id: int,
        protocol: Protocol | str,
        market: str,
        borrower: str,
        mode: AttemptMode | str,
        collateral_asset: str,
        debt_asset: str,
        debt_to_cover: int,
        expected_seized: int,
        expected_profit_usd: Decimal | int,
        detected_block: int,
        bonus_usd: Decimal | int | None = None,
        swap_usd: Decimal | int | None = None,
        gas_usd: Decimal | int | None = None,
        fees_usd: Decimal | int | None = None,
        health_factor: int | None = None,
        detection_latency_ms: int | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Record a decision in status `detected` and return its id. Idempotent: the same chain, protocol,
        market, borrower and detection block return the id already recorded, and change nothing."""
        # Every keyword argument above is a column of the same name.
        fields = {k: v for k, v in locals().items() if k not in ("self", "protocol", "mode")}
        values = {k: clean_value(k, v) for k, v in fields.items()}
        now = utcnow()
        values.update(
            protocol=Protocol(protocol).value,
            mode=AttemptMode(mode).value,
            status=AttemptStatus.DETECTED.value,
            created_at=values["created_at"] or now,
            updated_at=now,
            reorg_count=0,
        )
        key = values["opportunity_key"] = opportunity_key(
            chain_id, values["protocol"], values["market"], values["borrower"], detected_block
        )
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        stmt = (
            dialect.insert(AttemptRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["opportunity_key"])
            .returning(AttemptRow.id)
        )
        with self._sessions.begin() as s:
            new_id = s.execute(stmt).scalar_one_or_none()
            if new_id is None:  # already recorded, by us before a restart or by a twin process
                existing = select(AttemptRow.id).where(AttemptRow.opportunity_key == key)
                new_id = s.execute(existing).scalar_one()
        return new_id

    def advance(self, attempt_id: int, status: AttemptStatus | str, **fields: Any) -> Attempt:
        """Move an attempt forward to `status`, writing `fields` (tx_hash, gas_used, reason, ...) with it.
        Raises InvalidTransition if the rules refuse the move or another process moved the attempt first."""
        target = AttemptStatus(status)
        values = _clean_all(fields, _ADVANCE_FIELDS, f"advance to {target}")
        seen = self.get(attempt_id)
        check_transition(seen.status, target, seen.mode)
        now = utcnow()
        stamp = _STAMPS.get(target)
        if stamp is not None and values.get(stamp) is None:
            values[stamp] = now
        return self._move(seen, target, {**values, "status": target.value, "updated_at": now})

    def mark_reorged(self, attempt_id: int, **fields: Any) -> Attempt:
        """The one backward move: a reorg dropped the included transaction, so the attempt goes back to
        `submitted` to be tracked again. Inclusion facts are cleared and `reorg_count` goes up."""
        values = _clean_all(fields, _ADVANCE_FIELDS - set(_RECEIPT_FIELDS), "a reorg")
        seen = self.get(attempt_id)
        check_transition(seen.status, AttemptStatus.SUBMITTED, seen.mode, reorg=True)
        values |= dict.fromkeys(_RECEIPT_FIELDS)
        values |= {
            "status": AttemptStatus.SUBMITTED.value,
            "updated_at": utcnow(),
            "reorg_count": AttemptRow.reorg_count + 1,
        }
        return self._move(seen, AttemptStatus.SUBMITTED, values)

    def _move(self, seen: Attempt, target: AttemptStatus, values: dict[str, Any]) -> Attempt:
        # Compare-and-set on the status we checked: the move applied is exactly the move validated.
        stmt = (
            update(AttemptRow)
            .where(AttemptRow.id == seen.id, AttemptRow.status == seen.status.value)
            .values(**values)
        )
        with self.engine.begin() as conn:
            moved = conn.execute(stmt).rowcount
        if moved != 1:
            now = self.get(seen.id).status
            raise InvalidTransition(
                f"attempt {seen.id} is {now}, not {seen.status}: another process moved it first"
                f" ({target} refused)"
            )
        return self.get(seen.id)

    def reconcile(
        self,
        attempt_id: int,
        outcome: Outcome | str,
        *,
        block: int | None = None,
        tx_hash: str | None = None,
        at: datetime | None = None,
    ) -> Attempt:
        """Record what later happened to the position (any status; may be repeated as things change):
        liquidated by someone else in `block` by `tx_hash` at block time `at`, still open, or never was."""
        values = {
            "outcome": Outcome(outcome).value,
            "outcome_block": clean_value("outcome_block", block),
            "outcome_tx": clean_value("outcome_tx", tx_hash),
            "outcome_at": clean_value("outcome_at", at),
            "reconciled_at": utcnow(),
        }
        values["updated_at"] = values["reconciled_at"]
        stmt = update(AttemptRow).where(AttemptRow.id == attempt_id).values(**values)
        with self.engine.begin() as conn:
            found = conn.execute(stmt).rowcount
        if found != 1:
            raise AttemptNotFoundError(f"no attempt with id {attempt_id}")
        return self.get(attempt_id)

    # ---- reads --------------------------------------------------------------------------------------------

    def get(self, attempt_id: int) -> Attempt:
        with self._sessions() as s:
            row = s.get(AttemptRow, attempt_id)
            if row is None:
                raise AttemptNotFoundError(f"no attempt with id {attempt_id}")
            return Attempt.from_row(row)

    def list(
        self,
        chain_id: int | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        limit: int | None = 100,
        *,
        borrower: str | None = None,
    ) -> builtins.list[Attempt]:
        """Newest first. `status` may be one status or several; `since` is an aware datetime."""
        return builtins.list(self.iter(chain_id, status, since, limit, borrower=borrower))

    def iter(
        self,
        chain_id: int | None = None,
        status: StatusFilter = None,
        since: datetime | None = None,
        limit: int | None = None,
        *,
        borrower: str | None = None,
        oldest_first: bool = False,
    ) -> Iterator[Attempt]:
        """Like `list`, streamed (no limit by default): for exports of any size."""
        stmt = _filtered(chain_id, status, since, borrower, oldest_first)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._sessions() as s:
            for row in s.scalars(stmt.execution_options(yield_per=500)):
                yield Attempt.from_row(row)

    def export(self, fmt: ExportFormat | str, fp: IO[str], **filters: Any) -> int:
        """Write every attempt matching `filters` (those of `list`), oldest first, to `fp` as JSON lines or
        CSV; returns how many. Token amounts and USD values are decimal strings so no reader rounds them."""
        return write_export(self.iter(**filters, oldest_first=True), fmt, fp)

    # ---- sync cursors -------------------------------------------------------------------------------------

    def get_cursor(self, chain_id: int, stream: str) -> Cursor | None:
        with self._sessions() as s:
            row = s.get(CursorRow, (chain_id, stream))
            if row is None:
                return None
            return Cursor(row.chain_id, row.stream, row.block_number, row.block_hash, row.updated_at)

    def set_cursor(self, chain_id: int, stream: str, block: int, block_hash: str) -> None:
        """Record the last block `stream` fully processed. It may go back: that is how a reorg rewinds it."""
        values = {
            "chain_id": chain_id,
            "stream": stream,
            "block_number": clean_value("included_block", block),
            "block_hash": clean_value("tx_hash", block_hash),  # same shape as a transaction hash
            "updated_at": utcnow(),
        }
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        ins = dialect.insert(CursorRow).values(**values)
        stmt = ins.on_conflict_do_update(
            index_elements=["chain_id", "stream"],
            set_={k: ins.excluded[k] for k in ("block_number", "block_hash", "updated_at")},
        )
        with self._sessions.begin() as s:
            s.execute(stmt)


def _filtered(
    chain_id: int | None,
    status: StatusFilter,
    since: datetime | None,
    borrower: str | None,
    oldest_first: bool,
) -> Select[AttemptRow]:
    order = (AttemptRow.created_at, AttemptRow.id)
    stmt = select(AttemptRow).order_by(*(order if oldest_first else (c.desc() for c in order)))
    if chain_id is not None:
        stmt = stmt.where(AttemptRow.chain_id == chain_id)
    if statuses := _statuses(status):
        stmt = stmt.where(AttemptRow.status.in_([s.value for s in statuses]))
    if since is not None:
        stmt = stmt.where(AttemptRow.created_at >= clean_value("created_at", since))
    if borrower is not None:
        stmt = stmt.where(AttemptRow.borrower == borrower.lower())
    return stmt


def plain(value: Any) -> Any:
    """A value as it goes into an export: exact decimal strings for amounts, ISO 8601 for times."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


_UINT_FIELDS = frozenset(c.name for c in AttemptRow.__table__.c if isinstance(c.type, Uint256))


def export_record(a: Attempt) -> dict[str, Any]:
    out = {name: plain(getattr(a, name)) for name in ATTEMPT_FIELDS}
    for name in _UINT_FIELDS:  # JSON readers in doubles (jq, JavaScript) would round a uint256
        if out[name] is not None:
            out[name] = str(out[name])
    return out


def write_export(attempts: Iterable[Attempt], fmt: ExportFormat | str, fp: IO[str]) -> int:
    if fmt not in ("jsonl", "csv"):
        raise StoreError(f"unknown export format {fmt!r}: use jsonl or csv")
    n = 0
    writer = csv.DictWriter(fp, fieldnames=ATTEMPT_FIELDS, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for a in attempts:
        record = export_record(a)
        if writer is not None:
            writer.writerow(record)
        else:
            fp.write(json.dumps(record, separators=(",", ":")) + "\n")
        n += 1
    return n


def open_store(url: str, *, create: bool = True) -> Store:
    """Open the attempts database at `url` and bring its schema to the newest revision.

    With `create=False` a SQLite file that does not exist is an error instead of a new empty database
    (what a read-only command wants).
    """
    engine = make_engine(url)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = Path(engine.url.database or "")
        if not path.exists():
            if not create:
                raise StoreError(f"no database at {path}: has the bot run? (--db or LIQBOT_DATABASE_URL)")
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)
