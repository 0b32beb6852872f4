"""`liqbot thresholds show|fallback`: what min profit and gas bid share each chain × protocol uses and why,
and the rollback step: pin the static defaults from the config (and release the pin)."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from liqbot.config import ChainConfig, LiqbotConfig, load_config
from liqbot.core.errors import ConfigError
from liqbot.engine.thresholds import current_levels
from liqbot.store import Store, open_store
from liqbot.store import thresholds as history
from liqbot.strategy.adaptive import Levels, Policy

app = typer.Typer(
    help="Adaptive thresholds per chain × protocol: show them and why; pin the static defaults (fallback).",
    no_args_is_help=True,
)
console = Console()

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="liqbot YAML config (bounds, defaults, DB).")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default: the config's database_url).")]
ChainOpt = Annotated[str | None, typer.Option("--chain", help="A chain name; default: every enabled chain.")]
ProtocolOpt = Annotated[
    str | None, typer.Option("--protocol", help="aave_v3, morpho_blue, ...; default: every enabled one.")
]
DEFAULT_CONFIG = Path(".devnet/liqbot.yaml")


def _targets(cfg: LiqbotConfig, chain: str | None, protocol: str | None) -> list[tuple[ChainConfig, str]]:
    chains = [cfg.chain(chain)] if chain else [c for c in cfg.chains if c.enabled]
    out = []
    for c in chains:
        names = c.protocols.enabled_names()
        if protocol is None:
            out += [(c, p) for p in names]
        elif protocol in names:
            out.append((c, protocol))
        elif chain is not None:
            raise ConfigError(
                f"--protocol {protocol}: not enabled on chain {c.name}; enabled: {', '.join(names) or 'none'}"
            )
    if not out:
        known = sorted({p for c in chains for p in c.protocols.enabled_names()})
        raise ConfigError(f"--protocol {protocol}: enabled nowhere; enabled protocols: {', '.join(known)}")
    return out


def _open(
    config: Path, db: str | None, chain: str | None, protocol: str | None, create: bool
) -> tuple[LiqbotConfig, list[tuple[ChainConfig, str]], Store]:
    """The config, the chain × protocol pairs asked for (checked before touching the database), the store."""
    cfg = load_config(config)
    targets = _targets(cfg, chain, protocol)
    return cfg, targets, open_store(db or cfg.database_url, create=create)


@app.command()
def show(
    config: ConfigOpt = DEFAULT_CONFIG, chain: ChainOpt = None, protocol: ProtocolOpt = None, db: DbOpt = None
) -> None:
    """The current min profit and gas share per chain × protocol: where they come from, since when, the
    window and the explanation of the last change, the bounds."""
    cfg, targets, store = _open(config, db, chain, protocol, create=False)
    t, a = cfg.thresholds, cfg.thresholds.adaptive
    policy = Policy.of(t)
    with store:
        for c, rows in _by_chain(targets):
            state = "on" if a.enabled else "[yellow]off[/yellow] (static values)"
            console.print(
                f"[bold]{c.name}[/bold] (chain id {c.chain_id}) — adaptive {state}; window: newest "
                f"{a.window_attempts} sent attempts of {a.window_hours} h, min sample {a.min_sample}, "
                f"update every {a.update_every_blocks} blocks",
                soft_wrap=True,
            )
            table = Table(
                "protocol", "min profit USD", "gas share", "source", "since", "by", "bounds: profit / share"
            )
            notes: list[str] = []
            for p in rows:
                rec = history.latest(store, c.chain_id, p)
                now = current_levels(rec, policy.default, a.enabled)
                table.add_row(
                    p,
                    _vs(now.min_profit_usd, policy.default.min_profit_usd),
                    _vs(now.gas_share, policy.default.gas_share),
                    _source(rec, a.enabled),
                    rec.at.strftime("%Y-%m-%d %H:%M:%S") if rec else "-",
                    rec.actor if rec else "-",
                    f"{_range(policy.profit_bounds)} / {_range(policy.share_bounds)}",
                )
                notes += _story(store, c, p, rec, cfg, now, policy.default)
            console.print(table)
            for line in notes:
                console.print(line, soft_wrap=True)


def _by_chain(targets: list[tuple[ChainConfig, str]]) -> list[tuple[ChainConfig, list[str]]]:
    out: dict[str, tuple[ChainConfig, list[str]]] = {}
    for c, p in targets:
        out.setdefault(c.name, (c, []))[1].append(p)
    return list(out.values())


def _vs(value: Decimal, static: Decimal, unit: str = "") -> str:
    return f"{value}{unit}" if value == static else f"[bold]{value}{unit}[/bold] (static {static})"


def _source(rec: history.ThresholdRecord | None, enabled: bool) -> str:
    if rec is None:
        return "static (no history)"
    if rec.pinned:
        return "[red]fallback (pinned)[/red]"
    if not enabled:
        return "static (adaptive off)"
    return rec.source


def _range(bounds: tuple[Decimal, Decimal]) -> str:
    return f"[{bounds[0]}, {bounds[1]}]"


def _story(
    store: Store,
    c: ChainConfig,
    p: str,
    rec: history.ThresholdRecord | None,
    cfg: LiqbotConfig,
    now: Levels,
    static: Levels,
) -> list[str]:
    a = cfg.thresholds.adaptive
    state = f"min profit {_vs(now.min_profit_usd, static.min_profit_usd, ' USD')}, "
    state += f"gas share {_vs(now.gas_share, static.gas_share)}"
    if rec is not None and rec.pinned:
        state += ", [red]pinned to the static defaults[/red]"
    lines = [f"  [bold]{p}[/bold]: {state}"]
    if rec is None:
        lines.append("    no change recorded yet; the static defaults apply")
    else:
        lines.append(f"    last change: {rec.source} by {rec.actor} at {rec.at:%Y-%m-%d %H:%M:%S}:")
        lines += [f"      {escape(x)}" for x in rec.reason.splitlines()]
        if rec.stats:
            lines.append(f"    window then: {_stats_text(rec.stats)}")
    stats = history.window_stats(
        store,
        c.chain_id,
        p,
        window_attempts=a.window_attempts,
        window_hours=a.window_hours,
        now=datetime.now(UTC),
        native_usd=None,
    )
    lines.append(f"    window now: {_stats_text(stats.as_dict())} (gas paid is valued by the running bot)")
    return lines


def _stats_text(s: Mapping[str, object]) -> str:
    parts = [f"{k.replace('_', ' ')} {s.get(k)}" for k in ("sent", "included", "reverted", "lost_races")]
    expected, realized = _usd(s.get("expected_usd")), _usd(s.get("realized_usd"))
    if expected is not None and realized is not None and expected > 0:
        parts.append(f"realized {realized} of expected {expected} USD before gas")
    spent, gas = _usd(s.get("gas_spent_usd")), _usd(s.get("gas_expected_usd"))
    if spent is not None and gas is not None and gas > 0:
        parts.append(f"gas paid {spent} of expected {gas} USD")
    if "block" in s:
        parts.append(f"at block {s['block']}")
    return ", ".join(parts)


def _usd(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return history.plain(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


@app.command()
def fallback(
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    chain: ChainOpt = None,
    protocol: ProtocolOpt = None,
    release: Annotated[
        bool, typer.Option("--release", help="Unpin: adaptation starts again from the static defaults.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Pin the static defaults from the config (the rollback step): nothing adapts until --release.
    A running bot picks it up within update_every_blocks blocks."""
    if not reason.strip():
        raise ConfigError("--reason must say why (it is recorded)")
    cfg, targets, store = _open(config, db, chain, protocol, create=True)
    static = Policy.of(cfg.thresholds).default
    actor = f"cli:{getpass.getuser()}"
    with store:
        for c, p in targets:
            rec = history.latest(store, c.chain_id, p)
            pinned = rec is not None and rec.pinned
            if release and not pinned:
                console.print(f"{c.name} {p}: not pinned; nothing to release")
                continue
            if not release and pinned:
                assert rec is not None
                console.print(f"{c.name} {p}: already pinned since {rec.at:%Y-%m-%d %H:%M:%S} ({rec.reason})")
                continue
            source = history.RELEASE if release else history.FALLBACK
            history.record(
                store, c.chain_id, p, static, source=source, actor=actor, reason=reason, at=datetime.now(UTC)
            )
            verb = "[green]released[/green]" if release else "[red]pinned[/red]"
            console.print(f"{verb} {c.name} {p}: {_levels(static)} ({reason})")


def _levels(lv: Levels) -> str:
    return f"min profit {lv.min_profit_usd} USD, gas share {lv.gas_share}"
