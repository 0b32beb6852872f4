"""`liqbot run`: the bot."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from liqbot.config import load_config
from liqbot.engine.orchestrator import run_pipelines
from liqbot.store import open_store
from liqbot.telemetry.logging import setup_logging
from liqbot.telemetry.metrics import Metrics


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="liqbot YAML config.")] = Path(
        ".devnet/liqbot.yaml"
    ),
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="shadow (decide and simulate, never send); overrides the config."),
    ] = None,
    blocks: Annotated[
        int | None, typer.Option(help="Stop after this many new blocks (default: run until SIGTERM).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics here (default: config metrics.port).")
    ] = None,
    no_metrics: Annotated[bool, typer.Option("--no-metrics", help="Do not serve /metrics.")] = False,
) -> None:
    """Watch every enabled chain, find liquidatable positions, price them and act per the mode."""
    env = dict(os.environ)
    if mode:
        env["LIQBOT_EXECUTION_MODE"] = mode
    cfg = load_config(config, env)
    setup_logging(cfg.log.level, cfg.log.json_output)
    metrics = Metrics()
    server = None if no_metrics else metrics.serve(cfg.metrics.host, metrics_port or cfg.metrics.port)
    store = open_store(cfg.database_url)
    try:
        asyncio.run(run_pipelines(cfg, config, store, metrics, max_blocks=blocks))
    finally:
        store.close()
        if server is not None:
            server.shutdown()
