"""The `liqbot` command. Each group lives in its own module; this file only wires them."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

import liqbot.cli.thresholds_cmd as thresholds_cmd
from liqbot import __version__
from liqbot.cli import attempts_cmd, config_cmd, devnet_cmd, executor_cmd, killswitch_cmd, run_cmd, stress_cmd
from liqbot.core.errors import LiqbotError

app = typer.Typer(
    name="liqbot",
    help="Liquidation engine for EVM lending markets (Aave V3, Morpho Blue, Compound V3).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.command(name="run")(run_cmd.run)
app.add_typer(devnet_cmd.app, name="devnet")
app.add_typer(attempts_cmd.app, name="attempts")
app.add_typer(killswitch_cmd.app, name="kill-switch")
app.add_typer(executor_cmd.app, name="executor")
app.add_typer(thresholds_cmd.app, name="thresholds")
app.command(name="stress")(stress_cmd.stress)

err_console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the liqbot version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> Any:
    """Entry point that turns any LiqbotError into one red line and exit code 2."""
    try:
        return app(args=argv, standalone_mode=True)
    except LiqbotError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
