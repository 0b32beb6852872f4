"""Adaptive thresholds on real databases (SQLite, and PostgreSQL when LIQBOT_TEST_POSTGRES_URL is set): the
history table, the window statistics read from real attempt rows, the controller across restarts, and the
`liqbot thresholds show|fallback` commands."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from liqbot.cli.main import app
from liqbot.config import LiqbotConfig, load_config
from liqbot.core.errors import ConfigError, StoreError
from liqbot.engine.thresholds import ThresholdController
from liqbot.store import AttemptStatus, Store, open_store
from liqbot.store import thresholds as th
from liqbot.store.db import alembic_config, current_revision, head_revision, migrate
from liqbot.strategy.adaptive import Levels
from liqbot.telemetry.metrics import Metrics

from .test_store import db_url, pg_admin  # noqa: F401 -- the two-database fixtures

S = AttemptStatus
D = Decimal
_blocks = itertools.count(5_000)
AAVE = "0x2f39d218133AFaB8F2B819B1066c7E434Ad94E9e"
MORPHO = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
CONFIG = f"""
database_url: sqlite:///never-used.db
chains:
  - name: devnet
    chain_id: 31337
    rpc_http: ["http://127.0.0.1:8545"]
    protocols:
      aave_v3: {{pool_addresses_provider: "{AAVE}"}}
      morpho_blue: {{morpho: "{MORPHO}"}}
  - name: other
    chain_id: 10
    rpc_http: ["http://127.0.0.1:8545"]
    protocols:
      aave_v3: {{pool_addresses_provider: "{AAVE}"}}
thresholds:
  min_profit_usd: "5"
  priority_fee_profit_share: "0.2"
  adaptive: {{min_sample: 5, window_attempts: 20, update_every_blocks: 3, ENABLED}}
"""


def write_config(tmp_path: Path, enabled: bool = True) -> Path:
    path = tmp_path / f"liqbot-{enabled}.yaml"
    path.write_text(CONFIG.replace("ENABLED", f"enabled: {str(enabled).lower()}"), encoding="utf-8")
    return path


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def cfg(cfg_path: Path) -> LiqbotConfig:
    return load_config(cfg_path, env={})


def sent(
    store: Store,
    status: AttemptStatus,
    *,
    chain_id: int = 31337,
    protocol: str = "aave_v3",
    expected: str = "10",
    gas_usd: str = "-2",
    realized: str | None = None,
    gas_used: int | None = 200_000,
    gas_price: int | None = 10 * 10**9,
    submit: bool = True,
    created_at: datetime | None = None,
) -> int:
    """One attempt taken through the real status moves to `status`."""
    n = next(_blocks)
    attempt = store.record_detected(
        chain_id=chain_id, protocol=protocol, market=f"0x{0xAA:040x}", borrower=f"0x{n:040x}", mode="flash",
        collateral_asset=f"0x{0xC0:040x}", debt_asset=f"0x{0xD0:040x}", debt_to_cover=10**18,
        expected_seized=10**18, expected_profit_usd=D(expected), gas_usd=D(gas_usd), detected_block=n,
        created_at=created_at,
    )  # fmt: skip
    if status is S.SKIPPED:
        store.advance(attempt, S.SKIPPED, reason="below_min_profit: test")
        return attempt
    store.advance(attempt, S.SIMULATED, sender=f"0x{0x5E:040x}")
    if not submit:
        store.advance(attempt, status, reason="simulation: already liquidated")
        return attempt
    store.advance(attempt, S.SUBMITTED, tx_hash=f"0x{n:064x}", nonce=n)
    if status is S.SUBMITTED:
        return attempt
    fields: dict[str, Any] = {}
    if gas_used is not None:
        fields |= {"gas_used": gas_used, "effective_gas_price": gas_price}
    if realized is not None:
        fields["realized_profit_usd"] = D(realized)
    store.advance(attempt, status, **fields)
    return attempt


# ---- the history table -----------------------------------------------------------------------------------


def test_migration_0005_downgrades_for_a_rollback_and_upgrades_again(store: Store) -> None:
    """The runbook's rollback step: back to 0004 (only this table goes), then forward again."""
    th.record(store, 1, "aave_v3", Levels(D(5), D("0.2")), source=th.FALLBACK, actor="cli:x", reason="pin",
              at=datetime.now(UTC))  # fmt: skip
    url = store.engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0004")
    tables = set(sa.inspect(store.engine).get_table_names())
    assert "threshold_history" not in tables and {"liquidation_attempts", "kill_switch_events"} <= tables
    assert current_revision(store.engine) == "0004"
    migrate(store.engine)
    assert current_revision(store.engine) == head_revision() and th.latest(store, 1, "aave_v3") is None


def test_history_round_trip_is_exact_and_newest_first(store: Store) -> None:
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    th.record(store, 31337, "aave_v3", Levels(D("7.25"), D("0.35")), source=th.ADAPTIVE, actor="engine",
              reason="revert rate 30.0% > 10.0%", stats={"sent": 10}, at=t0)  # fmt: skip
    pin = th.record(store, 31337, "aave_v3", Levels(D(5), D("0.2")), source=th.FALLBACK, actor="cli:ops",
                    reason="bad oracle", at=t0 + timedelta(minutes=1))  # fmt: skip
    th.record(store, 10, "aave_v3", Levels(D(9), D("0.3")), source=th.ADAPTIVE, actor="engine", reason="x",
              at=t0)  # fmt: skip
    assert pin.pinned and pin.levels == Levels(D(5), D("0.2")) and pin.at == t0 + timedelta(minutes=1)
    latest = th.latest(store, 31337, "aave_v3")
    assert latest == pin
    rows = th.history(store, 31337)
    assert [r.source for r in rows] == ["fallback", "adaptive"]
    assert rows[1].levels == Levels(D("7.25"), D("0.35")) and str(rows[1].levels.min_profit_usd) == "7.25"
    assert rows[1].stats == {"sent": 10}
    assert th.latest(store, 31337, "morpho_blue") is None
    with pytest.raises(ValueError, match="needs a reason"):
        th.record(store, 1, "aave_v3", Levels(D(5), D("0.2")), source=th.FALLBACK, actor="cli:x", reason=" ",
                  at=t0)  # fmt: skip
    with pytest.raises(ValueError, match="source must be one of"):
        th.record(store, 1, "aave_v3", Levels(D(5), D("0.2")), source="manual", actor="x", reason="x", at=t0)


def test_window_counts_only_sent_and_ended_attempts_of_its_chain_and_protocol(store: Store) -> None:
    sent(store, S.INCLUDED, expected="10", gas_usd="-2", realized="11")  # before gas: 11 of 12
    sent(
        store, S.INCLUDED, expected="20", gas_usd="3", realized="20"
    )  # gas stored as a positive cost: 20 of 23
    sent(store, S.INCLUDED, realized=None)  # realized unknown: counted, not compared
    sent(store, S.REVERTED, realized=None)
    sent(store, S.LOST_RACE)  # beaten on chain
    sent(store, S.FAILED, gas_used=None)
    # Not sent, not ended, or not ours: none of these count.
    sent(store, S.LOST_RACE, submit=False)  # someone was first before we sent: latency, not gas
    sent(store, S.SUBMITTED)
    sent(store, S.SKIPPED)
    sent(store, S.REVERTED, protocol="morpho_blue")
    sent(store, S.REVERTED, chain_id=10)
    sent(store, S.REVERTED, created_at=datetime.now(UTC) - timedelta(hours=30))
    now = datetime.now(UTC)
    w = th.window_stats(store, 31337, "aave_v3", window_attempts=50, window_hours=24, now=now,
                        native_usd=D(2000))  # fmt: skip
    assert (w.sent, w.included, w.reverted, w.lost_races) == (6, 3, 1, 1)
    assert (w.expected_usd, w.realized_usd) == (D(35), D(31))
    # 5 rows with a receipt × 200k gas × 10 gwei = 0.002 ETH each, at 2000 USD
    assert w.gas_spent_usd == D(20) and w.gas_expected_usd == D(2 + 3 + 2 + 2 + 2)
    assert th.window_stats(store, 31337, "aave_v3", window_attempts=2, window_hours=24, now=now,
                           native_usd=None).sent == 2  # fmt: skip
    later = th.window_stats(store, 31337, "aave_v3", window_attempts=50, window_hours=24,
                            now=now + timedelta(hours=25), native_usd=None)  # fmt: skip
    assert later.sent == 0 and later.gas_spent_usd is None


# ---- the controller ----------------------------------------------------------------------------------------


def test_controller_adapts_records_and_survives_a_restart(store: Store, cfg: LiqbotConfig) -> None:
    chain = cfg.chain("devnet")
    for _ in range(4):
        sent(store, S.REVERTED)
    for _ in range(2):
        sent(store, S.INCLUDED, realized="12")
    metrics = Metrics()
    ctl = ThresholdController(cfg, chain, store, ["aave_v3", "morpho_blue"], metrics)
    assert ctl.strategy_for("aave_v3").min_profit_usd == D(5), "no history: the static default"
    written = ctl.update(100, None)
    assert [(r.protocol, r.source, r.levels.min_profit_usd) for r in written] == [
        ("aave_v3", "adaptive", D(7))
    ]
    assert "revert rate 66.7% > 10.0%" in written[0].reason and written[0].stats["sent"] == 6
    assert written[0].stats["block"] == 100
    assert ctl.strategy_for("aave_v3").min_profit_usd == D(7)
    assert ctl.strategy_for("morpho_blue").min_profit_usd == D(5), "per protocol: morpho has no history"
    assert ctl.strategy_for("aave_v3").deny_assets == ()
    gauge = metrics.registry.get_sample_value(
        "liqbot_threshold", {"chain": "devnet", "protocol": "aave_v3", "name": "min_profit_usd"}
    )
    assert gauge == 7.0
    assert ctl.update(101, None) == [], "not due: update_every_blocks is 3"
    assert [r.levels.min_profit_usd for r in ctl.update(103, None)] == [D(9)]
    again = ThresholdController(cfg, chain, store, ["aave_v3", "morpho_blue"])
    assert again.strategy_for("aave_v3").min_profit_usd == D(9), "loaded from the database"
    assert again.gas_share_for("aave_v3") == D("0.2")


def test_lost_races_raise_the_gas_share_of_that_protocol_only(store: Store, cfg: LiqbotConfig) -> None:
    for _ in range(3):
        sent(store, S.LOST_RACE, protocol="morpho_blue")
    for _ in range(3):
        sent(store, S.INCLUDED, protocol="morpho_blue", realized="12")
    ctl = ThresholdController(cfg, cfg.chain("devnet"), store, ["aave_v3", "morpho_blue"])
    ctl.update(10, None)
    assert ctl.gas_share_for("morpho_blue") == D("0.25") and ctl.gas_share_for("aave_v3") == D("0.2")
    assert ctl.strategy_for("morpho_blue").priority_fee_profit_share == D("0.25")
    assert ctl.strategy_for("morpho_blue").min_profit_usd == D(5)


def test_fallback_pins_the_static_defaults_until_released(
    store: Store,
    cfg: LiqbotConfig,
    cfg_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    for _ in range(6):
        sent(store, S.REVERTED)
    ctl = ThresholdController(cfg, cfg.chain("devnet"), store, ["aave_v3", "morpho_blue"])
    ctl.update(1, None)
    assert ctl.strategy_for("aave_v3").min_profit_usd == D(7)
    out = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--chain", "devnet",
              "--protocol", "aave_v3", "--reason", "reverts after the upgrade")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "pinned devnet aave_v3: min profit 5 USD, gas share 0.2" in out.output
    assert ctl.update(4, None) == [], "pinned: nothing adapts"
    assert ctl.strategy_for("aave_v3").min_profit_usd == D(5) and ctl.pinned["aave_v3"]
    assert ThresholdController(cfg, cfg.chain("devnet"), store, ["aave_v3"]).strategy_for(
        "aave_v3"
    ).min_profit_usd == D(5), "the pin survives a restart"
    shown = cli("thresholds", "show", "-c", str(cfg_path), "--db", db_url, "--chain", "devnet")
    assert shown.exit_code == 0, shown.output
    assert "pinned to the static defaults" in shown.output and "reverts after the upgrade" in shown.output
    assert "window now: sent 6, included 0, reverted 6" in shown.output
    again = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--chain", "devnet",
                "--protocol", "aave_v3", "--reason", "twice")  # fmt: skip
    assert "already pinned" in again.output
    out = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--release", "--reason", "fixed")
    assert out.exit_code == 0, out.output
    assert "released devnet aave_v3" in out.output and "devnet morpho_blue: not pinned" in out.output
    assert [r.source for r in th.history(store, 31337, "aave_v3")] == ["release", "fallback", "adaptive"]
    assert ctl.update(7, None)[0].levels.min_profit_usd == D(7), "adapts again, from the static default"
    shown = cli("thresholds", "show", "-c", str(cfg_path), "--db", db_url)
    assert "other" in shown.output and "(static 5)" in shown.output and "revert rate 100.0%" in shown.output


def test_adaptive_off_uses_the_static_values_and_records_why(
    store: Store,
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    off_path = write_config(tmp_path, enabled=False)
    off = load_config(off_path, env={})
    th.record(store, 31337, "aave_v3", Levels(D(11), D("0.4")), source=th.ADAPTIVE, actor="engine",
              reason="x", at=datetime.now(UTC))  # fmt: skip
    for _ in range(6):
        sent(store, S.REVERTED)
    ctl = ThresholdController(off, off.chain("devnet"), store, ["aave_v3", "morpho_blue"])
    assert ctl.strategy_for("aave_v3").min_profit_usd == D(5)
    assert ctl.update(1, None) == []
    assert [r.source for r in th.history(store, 31337, "aave_v3")] == ["static", "adaptive"]
    ThresholdController(off, off.chain("devnet"), store, ["aave_v3"])
    assert len(th.history(store, 31337, "aave_v3")) == 2, "recorded once, not at every start"
    assert th.history(store, 31337, "morpho_blue") == []
    shown = cli("thresholds", "show", "-c", str(off_path), "--db", db_url, "--chain", "devnet")
    assert "adaptive off" in shown.output and "enabled: false" in shown.output


# ---- the command line --------------------------------------------------------------------------------------


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_errors_are_clear(cfg_path: Path, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    bad_chain = cli("thresholds", "show", "-c", str(cfg_path), "--db", db_url, "--chain", "mainnet")
    assert isinstance(bad_chain.exception, ConfigError) and "configured chains: devnet, other" in str(
        bad_chain.exception
    )
    bad_protocol = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--chain", "other",
                       "--protocol", "morpho_blue", "--reason", "x")  # fmt: skip
    assert isinstance(bad_protocol.exception, ConfigError)
    assert "not enabled on chain other; enabled: aave_v3" in str(bad_protocol.exception)
    nowhere = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--protocol", "compound_v3",
                  "--reason", "x")  # fmt: skip
    assert "enabled nowhere" in str(nowhere.exception)
    no_reason = cli("thresholds", "fallback", "-c", str(cfg_path), "--db", db_url, "--reason", " ")
    assert isinstance(no_reason.exception, ConfigError)
    missing = cli("thresholds", "show", "-c", str(cfg_path), "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert isinstance(missing.exception, StoreError) and not (tmp_path / "none.db").exists()


def test_cli_unreachable_database_is_one_line_not_a_traceback(cfg_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from liqbot.cli.main import main; main(sys.argv[1:])",
         "thresholds", "show", "-c", str(cfg_path), "--db", "postgresql://postgres@127.0.0.1:1/none"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": "src"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "error: cannot migrate postgresql+psycopg://postgres@127.0.0.1:1/none" in proc.stderr
    assert "Traceback" not in proc.stderr
