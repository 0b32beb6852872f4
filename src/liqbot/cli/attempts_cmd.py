"""`liqbot attempts …`: read the liquidation attempts database (list, show, export). Never writes a row."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from liqbot.core.errors import ConfigError
from liqbot.store import Attempt, AttemptStatus, Store, open_store
from liqbot.store.attempts import export_record, plain

DEFAULT_DB = "sqlite:///.devnet/liqbot.db"
DB_ENV = "LIQBOT_DATABASE_URL"

app = typer.Typer(help="Read the liquidation attempts database: list, show, export.", no_args_is_help=True)
console = Console()

DbOpt = Annotated[
    str | None, typer.Option("--db", help=f"Database URL (default: ${DB_ENV}, else {DEFAULT_DB}).")
]
ChainOpt = Annotated[int | None, typer.Option("--chain", help="Only this chain id.")]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status", help="Only this status; repeat for several: --status skipped --status lost_race."
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", help="Created at or after: ISO date/time (UTC if no offset) or an age: 30m, 2h, 3d."
    ),
]
BorrowerOpt = Annotated[str | None, typer.Option("--borrower", help="Only this borrower address.")]

_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def db_url(db: str | None) -> str:
    return db or os.environ.get(DB_ENV) or DEFAULT_DB


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2h`, `3d`, `45m`, `1w`, `30s` ago, or an ISO 8601 date/time; no offset means UTC."""
    text = text.strip()
    if m := _AGE.fullmatch(text):
        return (now or datetime.now(UTC)) - timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: use an ISO date/time (2024-05-01, 2024-05-01T12:00Z)"
            " or an age (30m, 2h, 3d, 1w)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_statuses(values: list[str] | None) -> list[AttemptStatus] | None:
    if not values:
        return None
    try:
        return [AttemptStatus(v.strip().lower()) for v in values]
    except ValueError:
        valid = ", ".join(s.value for s in AttemptStatus)
        raise ConfigError(f"--status {', '.join(values)}: each must be one of {valid}") from None


def _filters(
    chain: int | None, status: list[str] | None, since: str | None, borrower: str | None
) -> dict[str, Any]:
    return {
        "chain_id": chain,
        "status": parse_statuses(status),
        "since": parse_since(since) if since else None,
        "borrower": borrower,
    }


@contextmanager
def _store(db: str | None) -> Iterator[Store]:
    # create=False: a mistyped --db path is an error, not a new empty database.
    store = open_store(db_url(db), create=False)
    try:
        yield store
    finally:
        store.close()


def _short(hex_str: str | None) -> str:
    return "" if not hex_str else f"{hex_str[:6]}…{hex_str[-4:]}"


def _usd(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


_COLUMNS = (
    "id",
    "created (UTC)",
    "chain",
    "protocol",
    "mode",
    "status",
    "borrower",
    "exp. $",
    "real. $",
    "reason",
)


def _row(a: Attempt) -> list[str]:
    return [
        str(a.id),
        a.created_at.strftime("%m-%d %H:%M:%S"),
        str(a.chain_id),
        a.protocol.value,
        a.mode.value,
        a.status.value,
        _short(a.borrower),
        _usd(a.expected_profit_usd),
        _usd(a.realized_profit_usd),
        (a.reason or "")[:40],
    ]


@app.command("list")
def list_(
    chain: ChainOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    borrower: BorrowerOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    db: DbOpt = None,
) -> None:
    """Show recent attempts, newest first."""
    filters = _filters(chain, status, since, borrower)
    with _store(db) as store:
        attempts = store.list(limit=limit, **filters)
    table = Table(title=f"{len(attempts)} attempt(s)")
    for name in _COLUMNS:  # on a narrow terminal the other columns wrap; id and status stay whole
        table.add_column(name, no_wrap=name in ("id", "status"), min_width=9 if name == "status" else None)
    for a in attempts:
        table.add_row(*_row(a))
    console.print(table)


@app.command()
def show(
    attempt_id: Annotated[int, typer.Argument(metavar="ID", help="Attempt id (from `list`).")],
    db: DbOpt = None,
) -> None:
    """Show every field of one attempt."""
    with _store(db) as store:
        attempt = store.get(attempt_id)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")  # wrap long values (uint256, keys); never cut them
    for name, value in export_record(attempt).items():
        grid.add_row(name, "" if value is None else str(plain(value)))
    console.print(grid)


@app.command()
def export(
    fmt: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl (one JSON object a line) or csv.")
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    chain: ChainOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    borrower: BorrowerOpt = None,
    db: DbOpt = None,
) -> None:
    """Write matching attempts, oldest first; amounts as exact decimal strings."""
    filters = _filters(chain, status, since, borrower)
    with _store(db) as store:
        if out is None:
            store.export(fmt, sys.stdout, **filters)
            return
        with out.open("w", encoding="utf-8", newline="") as fp:
            n = store.export(fmt, fp, **filters)
    Console(stderr=True).print(f"exported {n} attempt(s) to {out}")
