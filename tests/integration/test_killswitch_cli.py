"""`liqbot kill-switch` engages, shows and releases the persisted switch."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from liqbot.cli.main import app
from liqbot.risk import killswitch
from liqbot.store import open_store


def test_engage_status_release(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ks.db'}"
    runner = CliRunner()
    out = runner.invoke(
        app, ["kill-switch", "engage", "--chain", "base", "--reason", "oracle outage", "--db", db]
    )
    assert out.exit_code == 0, out.output
    with open_store(db) as s:
        assert killswitch.blocking(s, "base") is not None
    out = runner.invoke(app, ["kill-switch", "status", "--chain", "base", "--db", db], env={"COLUMNS": "200"})
    assert "ENGAGED" in out.output and "oracle outage" in out.output
    out = runner.invoke(
        app, ["kill-switch", "release", "--chain", "base", "--reason", "feed back", "--db", db]
    )
    assert out.exit_code == 0
    with open_store(db) as s:
        assert killswitch.blocking(s, "base") is None
