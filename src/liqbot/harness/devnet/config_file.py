"""Write a ready liqbot config that points at the running devnet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from liqbot.harness.devnet.manager import ChainRun


def chain_section(run: ChainRun, a: dict[str, Any]) -> dict[str, Any]:
    l2 = a.get("l2")
    return {
        "name": run.name,
        "chain_id": run.chain_id,
        "rpc_http": [run.url],
        "rpc_ws": [run.ws_url],
        "private_relay": None,
        "block_time_s": run.block_time or 1.0,
        "confirmations": 1,
        "l2": "op-stack" if l2 else "none",
        "sequencer_uptime_feed": l2["sequencer_oracle"] if l2 else None,
        "sequencer_grace_period_s": l2["grace_period_s"] if l2 else 3600,
        "contracts": {
            "multicall3": a["multicall3"],
            "uniswap_v3_factory": a["uniswap"]["factory"],
            "uniswap_v3_swap_router": a["uniswap"]["swap_router"],
            "uniswap_v3_quoter_v2": a["uniswap"]["quoter_v2"],
            "op_gas_price_oracle": l2["gas_price_oracle"] if l2 else None,
            "wrapped_native": a["tokens"]["WETH"]["address"],
        },
        "protocols": {
            "aave_v3": {
                "enabled": True,
                "pool_addresses_provider": a["aave"]["pool_addresses_provider"],
                "start_block": 0,
            },
            "morpho_blue": {
                "enabled": True,
                "morpho": a["morpho"]["morpho"],
                "start_block": 0,
                "markets": [m["id"] for m in a["morpho"]["markets"]],
            },
            "compound_v3": {"enabled": False, "comets": []},
        },
        "executor": a.get("executor"),
    }


def write_config(path: Path, chains: list[tuple[ChainRun, dict[str, Any]]], state_dir: Path) -> None:
    first = chains[0][1]
    doc = {
        "database_url": f"sqlite:///{state_dir / 'liqbot.db'}",
        "metrics": {"host": "127.0.0.1", "port": 9108},
        "log": {"level": "info", "json": False},
        "chains": [chain_section(run, a) for run, a in chains],
        "execution": {
            "mode": "shadow",
            "signer": {"source": "env", "env_var": "LIQBOT_SIGNER_KEY"},
            "treasury": first["safe"]["treasury"],
        },
        "thresholds": {
            "min_profit_usd": "5",
            "max_gas_price_gwei": "500",
            "priority_fee_profit_share": "0.2",
        },
        # Sized for the devnet's crash scenarios (a 20% drop makes ~100 liquidations in one block); the
        # defaults of a real deployment are the config models' own, and much tighter.
        "caps": {
            "max_notional_usd_per_attempt": "500000",
            "max_daily_gas_usd": "2000",
            "max_attempts_per_borrower_per_hour": 3,
            "max_inflight_per_chain": 64,
            "max_live_executions_per_session": 500,
            "max_notional_usd_per_session": "20000000",
            "max_notional_usd_per_day": "20000000",
        },
        "deny_assets": [],
    }
    header = (
        "# Written by `liqbot devnet up`: a config for the local devnet. Keys come from the environment.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
