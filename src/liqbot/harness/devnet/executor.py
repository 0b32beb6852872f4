"""Build liqbot's executor contract with the pinned npm solc, and deploy it onto the devnet.

The build is committed (`contracts/build/LiqExecutor.json`, copied into the package);
scripts/build_contracts.py regenerates it and tests/integration/test_executor_build.py fails when a rebuild
would differ.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from liqbot.execution.executor_contract import deploy_executor
from liqbot.harness.devnet import solc
from liqbot.harness.devnet.paths import contracts_dir
from liqbot.harness.devnet.rpc import ADMIN, LIQUIDATOR, DevnetRpc

CONTRACT = "LiqExecutor"
# Called on every liquidation, deployed once: optimise for runtime gas. No via-IR (solc-js is slow at it).
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 10_000},
    "viaIR": False,
    "evmVersion": "paris",
}


def executor_sources(root: Path | None = None) -> dict[str, dict[str, str]]:
    """Standard-JSON sources under stable unit names (`executor/X.sol`), so the metadata hash is stable."""
    src = (root or contracts_dir()) / "executor"
    return {f"executor/{p.name}": {"content": p.read_text()} for p in sorted(src.glob("*.sol"))}


def build_executor_artifact(root: Path | None = None) -> dict[str, Any]:
    """Compile the executor and return the artifact we commit (deterministic for the same sources)."""
    sources = executor_sources(root)
    built = solc.compile_sources(
        sources,
        via_ir=SETTINGS["viaIR"],
        runs=SETTINGS["optimizer"]["runs"],
        evm_version=SETTINGS["evmVersion"],
    )[f"{CONTRACT}.sol:{CONTRACT}"]
    return {
        "contractName": CONTRACT,
        "compiler": {"name": "solc-js (npm solc)", "version": solc.solc_version()},
        "settings": SETTINGS,
        "sources": {name: hashlib.sha256(s["content"].encode()).hexdigest() for name, s in sources.items()},
        "abi": built["abi"],
        "bytecode": built["bytecode"],
        "deployedBytecode": built["deployedBytecode"],
    }


def strip_metadata(code: str) -> str:
    """Drop solc's CBOR metadata trailer (its length is the last two bytes) from hex bytecode."""
    raw = bytes.fromhex(code.removeprefix("0x"))
    if len(raw) < 2:
        return code
    n = int.from_bytes(raw[-2:], "big")
    return "0x" + raw[: -(n + 2)].hex() if n + 2 <= len(raw) else code


def compile_test_contracts(root: Path | None = None) -> dict[str, solc.Artifact]:
    """The malicious/adapter contracts under contracts/test (compiled for tests only, never shipped)."""
    src = (root or contracts_dir()) / "test"
    sources = {f"test/{p.name}": {"content": p.read_text()} for p in sorted(src.glob("*.sol"))}
    return solc.compile_sources(sources, via_ir=False, runs=200)


def deploy_executor_on_devnet(rpc: DevnetRpc, addresses: dict[str, Any]) -> str:
    """Deploy from ADMIN (the owner): the devnet SwapRouter allowed, the devnet Safe as treasury, and
    LIQUIDATOR as an executor key. Returns the executor's address."""
    return deploy_executor(
        rpc,
        owner=ADMIN,
        treasury=addresses["safe"]["treasury"],
        routers=[addresses["uniswap"]["swap_router"]],
        executors=[LIQUIDATOR],
    )
