"""`liqbot config check FILE`: prints the effective config with secrets redacted, or the located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from liqbot.cli import config_cmd

FIXTURES = Path(__file__).parent / "fixtures" / "config"
SECRET_URL = "https://eth.example.org/v2/AbCdEf0123456789AbCdEf"


def _app() -> typer.Typer:
    from liqbot.cli import main

    if any(group.name == "config" for group in main.app.registered_groups):
        return main.app
    # main.py mounts config_cmd.app as `config`; mirror that if the mount is not in this checkout.
    app = typer.Typer()
    app.add_typer(config_cmd.app, name="config")
    app.command("version")(lambda: None)
    return app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LIQBOT_RPC_MAINNET", SECRET_URL)
    monkeypatch.delenv("LIQBOT_EXECUTION_MODE", raising=False)
    return CliRunner()


def test_check_prints_effective_config_redacted(runner: CliRunner) -> None:
    result = runner.invoke(_app(), ["config", "check", str(FIXTURES / "devnet.yaml")])
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output
    assert "https://eth.example.org/***" in result.output
    assert "AbCdEf0123456789" not in result.output
    assert "env_var: LIQBOT_SIGNER_KEY" in result.output
    assert "uniswap_v3_quoter_v2: '0x61fFE014bA17989E743c5F6cB21bF9697530B21e'" in result.output


def test_check_tree_view(runner: CliRunner) -> None:
    result = runner.invoke(_app(), ["config", "check", "--tree", str(FIXTURES / "presets.yaml")],
                           env={"LIQBOT_RPC_ARBITRUM": "x", "LIQBOT_RPC_OPTIMISM": "x",
                                "LIQBOT_RPC_BASE": "x", "LIQBOT_RPC_POLYGON": "x"})  # fmt: skip
    assert result.exit_code == 2  # "x" is not a URL: reported, not crashed
    assert "chains[1].rpc_http[0]" in result.output
    ok = runner.invoke(_app(), ["config", "check", "--tree", str(FIXTURES / "devnet.yaml")])
    assert ok.exit_code == 0, ok.output
    assert "config OK" in ok.output and "[0] devnet" in ok.output


def test_check_reports_file_line_and_path(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('chains:\n  - name: devnet\n    chain_id: 1\n    rpc_http: ["http://127.0.0.1:8545"]\n'
                    "    l2: optimism\n", encoding="utf-8")  # fmt: skip
    result = runner.invoke(_app(), ["config", "check", str(path)])
    assert result.exit_code == 2
    assert f"{path} line 5, chains[0].l2:" in result.output
    assert "'none', 'op-stack' or 'arbitrum'" in result.output
    assert "Traceback" not in result.output


def test_check_refuses_a_private_key_without_echoing_it(runner: CliRunner, tmp_path: Path) -> None:
    key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil dev key 0
    path = tmp_path / "config.yaml"
    path.write_text(f"signer_key: 0x{key}\n", encoding="utf-8")
    result = runner.invoke(_app(), ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "line 1, signer_key: looks like a private key" in result.output
    assert key not in result.output


def test_check_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(_app(), ["config", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "config file not found" in result.output
