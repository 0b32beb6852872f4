"""Compile Solidity with the pinned npm `solc` (solc-js) through its standard-JSON interface.

Used for Morpho Blue (npm ships sources only) and the devnet's own helper contracts. Output is cached
by a hash of the inputs, so only the first `devnet up` pays for compilation.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet.paths import build_cache_dir, npm_package, write_atomic

Artifact = dict[str, Any]  # {"abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..."}


def solc_version() -> str:
    pkg = json.loads((npm_package("solc") / "package.json").read_text())
    return str(pkg["version"])


def _sources_under(root: Path, prefix: str) -> dict[str, dict[str, str]]:
    return {
        f"{prefix}/{p.relative_to(root).as_posix()}": {"content": p.read_text()} for p in root.rglob("*.sol")
    }


def compile_sources(
    sources: dict[str, dict[str, str]], *, via_ir: bool, runs: int, evm_version: str = "paris"
) -> dict[str, Artifact]:
    """Compile and return {"File.sol:Contract": artifact}. Cached on disk by input hash."""
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": runs},
            "viaIR": via_ir,
            "evmVersion": evm_version,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    blob = json.dumps(request, sort_keys=True)
    key = hashlib.sha256((solc_version() + blob).encode()).hexdigest()[:16]
    cache = build_cache_dir() / f"solc-{key}.json"
    if cache.is_file():
        cached: dict[str, Artifact] = json.loads(cache.read_text())
        return cached
    request_file = cache.with_name(f"{cache.stem}.{os.getpid()}.input.json")
    request_file.write_text(blob)
    # solcjs's CLI reads stdin with readFileSync, which fails with EAGAIN on large pipes: call the API.
    script = (
        "const s=require(process.argv[1]);const fs=require('fs');"
        "process.stdout.write(s.compile(fs.readFileSync(process.argv[2],'utf8')))"
    )
    try:
        proc = subprocess.run(  # noqa: S603 - fixed local binary, no shell
            ["node", "-e", script, str(npm_package("solc")), str(request_file)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DevnetError("node is not installed: install Node.js 18+ and run `make setup`") from exc
    finally:
        request_file.unlink(missing_ok=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise DevnetError(f"solc failed (exit {proc.returncode}): {proc.stderr.strip()[:500]}")
    out = json.loads(proc.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise DevnetError(
            "solc: " + "; ".join(e.get("formattedMessage", e["message"]) for e in errors)[:2000]
        )
    result: dict[str, Artifact] = {}
    for file, contracts in out["contracts"].items():
        for name, c in contracts.items():
            result[f"{Path(file).name}:{name}"] = {
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
            }
    write_atomic(cache, json.dumps(result).encode())
    return result


def compile_morpho() -> dict[str, Artifact]:
    """Morpho Blue with its own build settings (via-IR, 999999 runs) plus its oracle/IRM mocks."""
    src = npm_package("@morpho-org/morpho-blue") / "src"
    return compile_sources(_sources_under(src, "morpho-blue/src"), via_ir=True, runs=999999)


def compile_devnet_contracts(contracts_dir: Path) -> dict[str, Artifact]:
    return compile_sources(_sources_under(contracts_dir / "devnet", "devnet"), via_ir=False, runs=200)
