"""The committed executor build is exactly what the pinned npm solc makes of the committed sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqbot.execution.executor_contract import load_artifact
from liqbot.harness.devnet import solc
from liqbot.harness.devnet.executor import SETTINGS, build_executor_artifact, strip_metadata

pytestmark = pytest.mark.devnet

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "contracts" / "build" / "LiqExecutor.json"
PACKAGED = ROOT / "src" / "liqbot" / "contracts" / "build" / "LiqExecutor.json"
HINT = "run `.venv/bin/python scripts/build_contracts.py` and commit contracts/build and its package copy"


@pytest.fixture(scope="module")
def rebuilt(npm_ready: None) -> dict[str, object]:
    return build_executor_artifact(ROOT / "contracts")


def test_recompiling_gives_the_committed_bytecode(rebuilt: dict[str, str]) -> None:
    committed = json.loads(COMMITTED.read_text())
    for field in ("bytecode", "deployedBytecode"):
        # Code first (a difference here is a real change), then the metadata hash (sources/comments/settings).
        code, want = strip_metadata(rebuilt[field]), strip_metadata(committed[field])
        assert code == want, f"{field} code differs: {HINT}"
        assert rebuilt[field] == committed[field], f"{field} metadata differs (sources edited?): {HINT}"
    assert rebuilt["abi"] == committed["abi"], f"ABI differs: {HINT}"
    assert rebuilt["sources"] == committed["sources"], f"sources changed since the build: {HINT}"


def test_artifact_records_compiler_and_settings() -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed["compiler"]["version"] == solc.solc_version() == "0.8.19"
    assert committed["settings"] == SETTINGS
    assert set(committed["sources"]) == {
        "executor/LiqExecutor.sol", "executor/ExternalInterfaces.sol", "executor/TokenOps.sol",
        "executor/AddressSet.sol",
    }  # fmt: skip


def test_package_copy_is_identical_and_loadable() -> None:
    assert PACKAGED.read_bytes() == COMMITTED.read_bytes(), HINT
    assert load_artifact()["deployedBytecode"] == json.loads(COMMITTED.read_text())["deployedBytecode"]


def test_strip_metadata_removes_only_the_cbor_trailer() -> None:
    code = json.loads(COMMITTED.read_text())["deployedBytecode"]
    stripped = strip_metadata(code)
    assert code.startswith(stripped) and len(code) - len(stripped) == 2 * (int(code[-4:], 16) + 2)
    assert bytes.fromhex(code[len(stripped) : len(stripped) + 4]) == b"\xa2\x64"  # CBOR map {"ipfs", "solc"}
