"""Tables about the devnet's seeded positions, read from the contracts themselves."""

from __future__ import annotations

from rich.table import Table

from liqbot.harness.devnet import manager, positions, solc
from liqbot.harness.devnet.positions import PositionHealth

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
    table = Table("protocol", "borrower", "health factor", "collateral $", "debt $",
                  title=f"{chain}: {len(low)} of {len(all_pos)} positions liquidatable")  # fmt: skip
    for p in low[:limit]:
        table.add_row(p.protocol, p.borrower, f"{p.health_factor / WAD:.4f}", f"{p.collateral_usd:,.0f}",
                      f"{p.debt_usd:,.0f}")  # fmt: skip
    if len(low) > limit:
        table.caption = f"… and {len(low) - limit} more"
    return table
