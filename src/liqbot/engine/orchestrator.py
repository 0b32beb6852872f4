"""Run every enabled chain's pipeline under one TaskGroup; SIGTERM/SIGINT stop them cleanly: no new decisions,
sends in flight are tracked to their end (a bounded wait; a second signal stops waiting), exit 0. A send left
unfinished stays `submitted` and is recovered at the next start."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from liqbot.config import LiqbotConfig
from liqbot.engine.pipeline import ChainPipeline
from liqbot.risk.caps import SessionTally
from liqbot.store import Store
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.run")


async def run_pipelines(
    cfg: LiqbotConfig,
    config_file: Path,
    store: Store,
    metrics: Metrics,
    *,
    max_blocks: int | None = None,
    stop: asyncio.Event | None = None,
    show_progress: bool = True,
) -> list[ChainPipeline]:
    chains = [c for c in cfg.chains if c.enabled]
    session = SessionTally()  # the session caps count over every chain of this run
    pipelines = [ChainPipeline(cfg, c, store, metrics, str(config_file), session) for c in chains]
    stop = stop or asyncio.Event()
    abort = asyncio.Event()  # a second signal: stop waiting for sends in flight

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            abort.set()
        stop.set()
        log.info("stopping", signal=sig.name, waiting_for_sends=not abort.is_set())

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        for p in pipelines:
            await p.start(show_progress)
        if max_blocks is not None:
            await _bounded(pipelines, max_blocks, stop)
        else:
            async with asyncio.TaskGroup() as tg:
                for p in pipelines:
                    tg.create_task(p.run(stop))
    finally:
        try:
            for p in pipelines:
                await p.close(abort)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    return pipelines


async def _bounded(pipelines: list[ChainPipeline], max_blocks: int, stop: asyncio.Event) -> None:
    """Process until each pipeline has advanced `max_blocks` blocks (used by tests and the demo)."""
    targets = {id(p): p.block + max_blocks for p in pipelines}
    while not stop.is_set() and any(p.block < targets[id(p)] for p in pipelines):
        progressed = False
        for p in pipelines:
            if p.block < targets[id(p)]:
                progressed |= await p.step()
        if not progressed:
            await asyncio.sleep(0.05)
