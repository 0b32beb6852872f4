"""`liqbot stress` end to end on a devnet of its own: the kill switch trips on a failing executor and nothing
is sent after it; with a healthy executor nothing trips; every row ends final and the throttles show."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from liqbot.cli.main import app
from liqbot.harness.stress import StressPlan, render, run_stress

from ..conftest import free_port_block

pytestmark = pytest.mark.devnet


def test_failing_executor_trips_the_kill_switch_and_nothing_is_sent_after(
    npm_ready: None, tmp_path: Path
) -> None:
    plan = StressPlan(borrowers=200, wave=30, cycles=2, fail_rate=1.0, send_latency_s=0.05,
                      port=free_port_block())  # fmt: skip
    report = run_stress(plan, tmp_path / "run")
    assert report.blocks > 0 and report.events > 0 and report.decisions > 0
    assert report.sent >= 3 and report.included == 0 and report.reverted == report.sent
    rules = [rule for _, rule, _ in report.trips]
    assert rules and rules[0] == "consecutive_reverts", report.trips
    assert report.sent_after_trip == 0
    assert "kill_switch" in report.skips  # detection went on; sending did not
    assert report.not_final == 0
    assert "consecutive_reverts" in render(report)


def test_healthy_executor_never_trips_and_throttles_show(npm_ready: None, tmp_path: Path) -> None:
    port = free_port_block()
    out = tmp_path / "report.md"
    result = CliRunner().invoke(
        app,
        ["stress", "--borrowers", "200", "--wave", "30", "--cycles", "2", "--fail-rate", "0",
         "--send-latency", "0.05", "--port", str(port), "--dir", str(tmp_path / "run"), "--report", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| none | | |" in text  # no trip
    assert "inflight_cap" in text  # a drop makes more opportunities than 4 sends in flight allow
    assert "Rows not final at the end: 0." in text
