"""Tables about the devnet's seeded positions, read from the contracts themselves."""

from __future__ import annotations

from rich.table import Table

from liqbot.harness.devnet import manager, positions, solc
from liqbot.harness.devnet.positions import PositionHealth
from liqbot.harness.devnet.shock import FEED_ABI

WAD = 10**18


def health(devnet: manager.Devnet, chain: str) -> list[PositionHealth]:
    rpc, a = devnet.rpc(chain), devnet.addresses(chain)
    book = manager.borrowers(devnet, chain)
    aave = [b["address"] for b in book if b["protocol"] == "aave_v3"]
    morpho = [(b["address"], b["market"]) for b in book if b["protocol"] == "morpho_blue"]
    out = positions.aave_health(rpc, a, aave) if aave else []
    if morpho:
        out += positions.morpho_health(rpc, a, solc.compile_morpho()["Morpho.sol:Morpho"]["abi"], morpho)
    return out


def liquidatable_table(devnet: manager.Devnet, chain: str, limit: int = 25) -> Table:
    all_pos = health(devnet, chain)
    low = sorted((p for p in all_pos if p.health_factor < WAD), key=lambda p: p.health_factor)
    table = Table(
        "protocol",
        "borrower",
        "health factor",
        "collateral $",
        "debt $",
        title=f"{chain}: {len(low)} of {len(all_pos)} positions liquidatable",
    )
    for p in low[:limit]:
        table.add_row(
            p.protocol,
            p.borrower,
            f"{p.health_factor / WAD:.4f}",
            f"{p.collateral_usd:,.0f}",
            f"{p.debt_usd:,.0f}",
        )
    if len(low) > limit:
        table.caption = f"… and {len(low) - limit} more"
    return table


def opportunities_table(devnet: manager.Devnet, chain: str, db_url: str, limit: int = 30) -> list[Table]:
    """What the bot decided after the shock, next to what the chain says, with detection latency."""
    from statistics import median

    from liqbot.store import open_store

    with open_store(db_url, create=False) as store:
        rows = store.list(limit=100_000)
    truth = [p for p in health(devnet, chain) if p.health_factor < WAD]
    found = {(r.protocol, r.borrower.lower()) for r in rows}
    missed = [p for p in truth if (p.protocol, p.borrower.lower()) not in found]
    shadowed = [r for r in rows if r.status == "shadowed"]
    latencies = [r.detection_latency_ms for r in rows if r.detection_latency_ms is not None]
    table = Table(
        "protocol",
        "borrower",
        "HF",
        "expected profit $",
        "status",
        "block",
        "latency ms",
        title=f"{chain}: what liqbot decided (shadow mode)",
    )
    for r in sorted(rows, key=lambda r: r.expected_profit_usd, reverse=True)[:limit]:
        hf = f"{r.health_factor / WAD:.4f}" if r.health_factor is not None else "-"
        status = r.status if r.status == "shadowed" else f"{r.status}: {(r.reason or '').split(':')[0]}"
        table.add_row(
            r.protocol,
            r.borrower[:10] + "…",
            hf,
            f"{r.expected_profit_usd:,.2f}",
            status,
            str(r.detected_block),
            str(r.detection_latency_ms),
        )
    summary = Table("what", "value", title="summary")
    for proto in ("aave_v3", "morpho_blue"):
        n_truth = sum(p.protocol == proto for p in truth)
        n_found = sum(r.protocol == proto for r in rows)
        summary.add_row(f"{proto}: liquidatable on chain / decided", f"{n_truth} / {n_found}")
    summary.add_row("decisions recorded", str(len(rows)))
    summary.add_row("opportunities (simulated OK, shadowed)", str(len(shadowed)))
    summary.add_row("liquidatable positions missed", str(len(missed)))
    summary.add_row(
        "expected profit of opportunities $", f"{sum(r.expected_profit_usd for r in shadowed):,.2f}"
    )
    if latencies:
        summary.add_row(
            "shock block → decision, median / max ms", f"{median(latencies):.0f} / {max(latencies)}"
        )
    return [table, summary]


def live_summary(devnet: manager.Devnet, chain: str, db_url: str, limit: int = 25) -> list[Table]:
    """Live mode: what was liquidated, realized profit, and the time from the price update to inclusion."""
    from statistics import median

    from liqbot.store import open_store

    with open_store(db_url, create=False) as store:
        rows = store.list(limit=100_000)
    w3 = devnet.rpc(chain).w3
    stamps: dict[int, int] = {}

    def ts(block: int) -> int:
        if block not in stamps:
            stamps[block] = int(w3.eth.get_block(block)["timestamp"])
        return stamps[block]

    included = [r for r in rows if r.status == "included" and r.included_block is not None]
    table = Table(
        "protocol",
        "borrower",
        "status",
        "expected $",
        "realized $",
        "detected",
        "included",
        "blocks",
        title=f"{chain}: liquidations",
    )
    for r in sorted(rows, key=lambda r: r.realized_profit_usd or 0, reverse=True)[:limit]:
        blocks = str(r.included_block - r.detected_block) if r.included_block is not None else "-"
        status = r.status if r.status in ("included", "shadowed") else f"{r.status}: {(r.reason or '')[:30]}"
        realized = f"{r.realized_profit_usd:,.2f}" if r.realized_profit_usd is not None else "-"
        table.add_row(
            r.protocol,
            r.borrower[:10] + "…",
            status,
            f"{r.expected_profit_usd:,.2f}",
            realized,
            str(r.detected_block),
            str(r.included_block or "-"),
            blocks,
        )
    summary = Table("what", "value", title="summary")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary.add_row("attempts by status", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    summary.add_row("positions liquidated", str(len({(r.protocol, r.borrower) for r in included})))
    weth_feed = devnet.addresses(chain)["tokens"]["WETH"]["feed"]
    eth_usd = int(devnet.rpc(chain).contract(FEED_ABI, weth_feed).functions.latestAnswer().call()) / 1e8
    gas_usd = (
        sum((r.gas_used or 0) * (r.effective_gas_price or 0) for r in rows if r.gas_used) / 1e18 * eth_usd
    )
    summary.add_row("gas paid $ (all sent transactions)", f"{gas_usd:,.2f}")
    summary.add_row(
        "realized profit $ before gas (from receipts)",
        f"{sum(r.realized_profit_usd or 0 for r in included):,.2f}",
    )
    summary.add_row(
        "expected profit $ of those (net of gas; a lower bound: crowded swaps priced as last)",
        f"{sum(r.expected_profit_usd for r in included):,.2f}",
    )
    if included:
        n_blocks = [r.included_block - r.detected_block for r in included if r.included_block]
        secs = [ts(r.included_block) - ts(r.detected_block) for r in included if r.included_block]
        summary.add_row(
            "price update → inclusion, blocks (median / max)", f"{median(n_blocks):.0f} / {max(n_blocks)}"
        )
        summary.add_row(
            "price update → inclusion, seconds (median / max)", f"{median(secs):.0f} / {max(secs)}"
        )
    still = [p for p in health(devnet, chain) if p.health_factor < WAD]
    summary.add_row("still liquidatable now", str(len(still)))
    return [table, summary]
