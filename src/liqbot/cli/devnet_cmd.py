"""`liqbot devnet …`: a local chain running the real Aave V3, Uniswap V3, Morpho Blue and Safe contracts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from liqbot.harness.devnet import anvil, manager, report
from liqbot.harness.devnet.paths import default_state_dir

app = typer.Typer(
    help="Run a local devnet with real protocol bytecode: up, populate, shock, status, down.",
    no_args_is_help=True,
)
console = Console()

DirOpt = Annotated[Path | None, typer.Option("--dir", help="Where run files live (default .devnet/).")]
ChainOpt = Annotated[str | None, typer.Option("--chain", help="Chain name (default: every chain).")]


def _dir(d: Path | None) -> Path:
    return (d or default_state_dir()).resolve()


@app.command()
def up(
    l2: Annotated[
        bool, typer.Option("--l2", help="Wire Aave's sequencer oracle and PriceOracleSentinel.")
    ] = False,
    chains: Annotated[int, typer.Option("--chains", help="1, or 2 for an L1-like and an L2-like chain.")] = 1,
    port: Annotated[int, typer.Option(help="First anvil port on 127.0.0.1.")] = 8545,
    block_time: Annotated[float, typer.Option(help="Seconds per block; 0 mines on every transaction.")] = 1.0,
    grace_period: Annotated[
        int, typer.Option(help="Sentinel grace period after the sequencer is back (s).")
    ] = 3600,
    state_dir: DirOpt = None,
) -> None:
    """Start anvil and deploy the market (first run ~20 s; later runs load the cached state)."""
    t0 = time.monotonic()
    devnet = manager.up(
        _dir(state_dir), chains=chains, l2=l2, port=port, block_time=block_time, grace_period_s=grace_period
    )
    for c in devnet.chains:
        console.print(
            f"[green]up[/green] {c.name}: chain {c.chain_id} at {c.url} (pid {c.pid}{', L2' if c.l2 else ''})"
        )
    console.print(f"config: {devnet.dir / 'liqbot.yaml'}   addresses: {devnet.dir / 'addresses.json'}")
    console.print(f"ready in {time.monotonic() - t0:.1f} s")


@app.command()
def down(state_dir: DirOpt = None) -> None:
    """Stop the anvil processes `up` started (by pid)."""
    stopped = manager.down(_dir(state_dir))
    console.print(
        f"stopped {len(stopped)} chain(s)" + "".join(f"\n  {c.name} (pid {c.pid})" for c in stopped)
    )


@app.command()
def status(state_dir: DirOpt = None) -> None:
    """Show each chain: pid, port, block, and how many borrowers were seeded."""
    devnet = manager.load(_dir(state_dir))
    table = Table("chain", "id", "url", "pid", "alive", "block", "borrowers", title="liqbot devnet")
    for c in devnet.chains:
        alive = anvil.pid_alive(c.pid)
        block = str(devnet.rpc(c.name).w3.eth.block_number) if alive else "-"
        table.add_row(
            c.name,
            str(c.chain_id),
            c.url,
            str(c.pid),
            "yes" if alive else "[red]no[/red]",
            block,
            str(len(manager.borrowers(devnet, c.name))),
        )
    console.print(table)


@app.command()
def populate(
    borrowers: Annotated[
        int, typer.Option("--borrowers", min=1, max=100_000, help="How many borrowers.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same positions.")] = 1,
    chain: ChainOpt = None,
    state_dir: DirOpt = None,
) -> None:
    """Open seeded healthy positions on Aave (some in eMode) and Morpho, HF ~1.02 to ~3."""
    devnet = manager.load(_dir(state_dir))
    for c in [devnet.chain(chain)] if chain else devnet.chains:
        t0 = time.monotonic()
        made = manager.do_populate(devnet, borrowers, seed, c.name)
        morpho = sum(b.protocol == "morpho_blue" for b in made)
        console.print(
            f"{c.name}: {len(made) - morpho} Aave and {morpho} Morpho borrowers in "
            f"{time.monotonic() - t0:.1f} s"
        )


@app.command()
def shock(
    asset: Annotated[str, typer.Option("--asset", help="WETH, USDC, WBTC or DAI.")],
    pct: Annotated[float, typer.Option("--pct", help="Percent move, e.g. -20.")],
    chain: ChainOpt = None,
    state_dir: DirOpt = None,
) -> None:
    """Move an asset's oracle price and arbitrage the Uniswap pools to it, in one block."""
    devnet = manager.load(_dir(state_dir))
    for c in [devnet.chain(chain)] if chain else devnet.chains:
        r = manager.do_shock(devnet, asset.upper(), pct, c.name)
        console.print(
            f"{c.name}: {asset.upper()} ${r['old'] / 1e8:,.2f} → ${r['new'] / 1e8:,.2f} in block {r['block']}"
        )


@app.command()
def liquidatable(chain: ChainOpt = None, state_dir: DirOpt = None) -> None:
    """List seeded positions whose health factor is below 1, read straight from the contracts."""
    devnet = manager.load(_dir(state_dir))
    for c in [devnet.chain(chain)] if chain else devnet.chains:
        console.print(report.liquidatable_table(devnet, c.name))


@app.command()
def decisions(
    db: Annotated[
        str | None, typer.Option("--db", help="Attempts DB (default: the devnet config's).")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Summarize sent liquidations (funds/flash).")] = False,
    chain: ChainOpt = None,
    state_dir: DirOpt = None,
) -> None:
    """Show what the bot decided (attempts rows) next to what the chain says is liquidatable."""
    devnet = manager.load(_dir(state_dir))
    url = db or f"sqlite:///{devnet.dir / 'liqbot.db'}"
    for c in [devnet.chain(chain)] if chain else devnet.chains:
        tables = (
            report.live_summary(devnet, c.name, url)
            if live
            else report.opportunities_table(devnet, c.name, url)
        )
        for t in tables:
            console.print(t)
