"""`liqbot stress`: the real pipeline under load on a devnet, with a stand-in executor that fails a share of
its sends; prints (and optionally writes) the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from liqbot.harness.stress import StressPlan, render, run_stress
from liqbot.telemetry.logging import setup_logging

console = Console()
_D = StressPlan()


def stress(
    borrowers: Annotated[int, typer.Option(min=10, help="Borrowers seeded before the run.")] = _D.borrowers,
    wave: Annotated[int, typer.Option(min=0, help="New borrowers per cycle (the event flood).")] = _D.wave,
    cycles: Annotated[int, typer.Option(min=1, help="Price drop cycles.")] = _D.cycles,
    drop_pct: Annotated[
        float, typer.Option(min=1, max=90, help="WETH drop per cycle, percent.")
    ] = _D.drop_pct,
    fail_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of the stand-in executor's sends that revert.")
    ] = _D.fail_rate,
    send_latency: Annotated[
        float, typer.Option(min=0, help="Seconds per stand-in send.")
    ] = _D.send_latency_s,
    seed: Annotated[int, typer.Option(help="Seed of the borrowers and the failures.")] = _D.seed,
    port: Annotated[int, typer.Option(help="Port of the stress devnet's anvil.")] = _D.port,
    state_dir: Annotated[Path, typer.Option("--dir", help="Run directory (devnet state, stress.db).")] = Path(
        ".devnet/stress"
    ),
    database_url: Annotated[
        str | None, typer.Option("--db", help="Attempts database (default: SQLite in --dir).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the report (Markdown) here.")] = None,
) -> None:
    """Drive thousands of opportunities and high event rates through the real pipeline on a devnet of its
    own; report throughput, latency percentiles, memory, which throttles fired and when the kill switch
    tripped."""
    setup_logging("warning", False)  # the report is the output; warnings and errors still show
    plan = StressPlan(borrowers, wave, cycles, drop_pct, fail_rate, send_latency, seed, port, database_url)
    console.print(
        f"stress: devnet on 127.0.0.1:{port} in {state_dir}, {borrowers} borrowers, {cycles} cycles"
    )
    result = run_stress(plan, state_dir)
    text = render(result)
    console.print(Markdown(text))
    if report is not None:
        report.write_text(text)
        console.print(f"report written to {report}")
