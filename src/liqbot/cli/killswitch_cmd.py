"""`liqbot kill-switch engage|release|status`: stop sending, globally or on one chain."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from liqbot.risk import killswitch
from liqbot.store import open_store

app = typer.Typer(
    help="Stop (and allow again) all sending; detection and shadow records go on.", no_args_is_help=True
)
console = Console()

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default: $LIQBOT_DATABASE_URL).")]
ChainOpt = Annotated[str | None, typer.Option("--chain", help="A chain name; default: global (every chain).")]


def _url(db: str | None) -> str:
    return db or os.environ.get("LIQBOT_DATABASE_URL") or "sqlite:///.devnet/liqbot.db"


@app.command()
def engage(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    chain: ChainOpt = None,
    db: DbOpt = None,
) -> None:
    """Engage the switch: nothing is sent until someone releases it."""
    with open_store(_url(db)) as store:
        s = killswitch.engage(store, chain or killswitch.GLOBAL, reason, f"cli:{getpass.getuser()}")
    console.print(f"[red]engaged[/red] {s.scope}: {s.reason}")


@app.command()
def release(
    reason: Annotated[str, typer.Option("--reason", help="Why it is safe again (recorded).")],
    chain: ChainOpt = None,
    db: DbOpt = None,
) -> None:
    """Release the switch (by hand only)."""
    with open_store(_url(db)) as store:
        s = killswitch.release(store, chain or killswitch.GLOBAL, reason, f"cli:{getpass.getuser()}")
    console.print(f"[green]released[/green] {s.scope}: {s.reason}")


@app.command()
def status(chain: ChainOpt = None, db: DbOpt = None) -> None:
    """Show the switch for global and the given chain."""
    with open_store(_url(db)) as store:
        scopes = [killswitch.GLOBAL] + ([chain] if chain else [])
        rows = [killswitch.status(store, s) for s in scopes]
    table = Table("scope", "state", "reason", "by", "at")
    for s in rows:
        table.add_row(
            s.scope, "[red]ENGAGED[/red]" if s.engaged else "released", s.reason, s.actor, str(s.at or "-")
        )
    console.print(table)
