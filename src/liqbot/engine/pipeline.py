"""One chain's pipeline: new heads → logs → adapters (state + screen + exact check) → decisions.

Per block it costs a fixed number of RPC calls (head, logs, block header, prices, sequencer), whatever the
number of borrowers; quotes and simulations are per opportunity."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog
from eth_utils import to_checksum_address
from rich.progress import Progress

from liqbot.chain.client import ChainClient
from liqbot.chain.heads import HeadWatcher
from liqbot.chain.signer import SignerLanes
from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.core.errors import ConfigError, RetryableError
from liqbot.engine.decide import BlockContext, Decider
from liqbot.engine.facts import FactGatherer, FeedBook, read_prices, read_sequencer
from liqbot.engine.reconcile import Reconciler
from liqbot.engine.reorg import Reorg, ReorgGuard
from liqbot.engine.thresholds import ThresholdController
from liqbot.execution.live import LiveExecutor
from liqbot.execution.recover import recover, usd_pricer
from liqbot.execution.relay import Route
from liqbot.execution.sender import SendPolicy, SendResult, TxSender
from liqbot.execution.shadow import ShadowExecutor
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter
from liqbot.protocols.base import ProtocolAdapter
from liqbot.protocols.morpho_blue.adapter import MorphoBlueAdapter
from liqbot.risk import killswitch
from liqbot.risk.caps import SessionTally
from liqbot.store import Store
from liqbot.store.accounts import add_accounts, load_accounts
from liqbot.strategy.gates import USD_DECIMALS, SequencerRule
from liqbot.strategy.pricing import StrategyConfig
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.engine")
OUTAGE_MAX_WAIT_S = 30.0  # the longest wait between tries while every endpoint fails


def build_adapters(
    chain: ChainConfig, client: ChainClient, config_file: str
) -> list[tuple[str, int, ProtocolAdapter]]:
    """(cursor stream, start block, adapter) per enabled protocol. An enabled protocol without a finished
    adapter stops the bot with the fix, instead of silently watching nothing."""
    out: list[tuple[str, int, ProtocolAdapter]] = []
    p = chain.protocols
    if p.aave_v3.enabled:
        provider = p.aave_v3.pool_addresses_provider
        if provider is None:
            raise ConfigError(
                f"{config_file}: chains[{chain.name}].protocols.aave_v3.pool_addresses_provider is required"
            )
        out.append(
            (
                f"aave_v3:{provider.lower()}",
                p.aave_v3.start_block,
                AaveV3Adapter(client, provider, chain.block_time_s),
            )
        )
    if p.morpho_blue.enabled:
        mb = p.morpho_blue
        if mb.morpho is None:
            raise ConfigError(f"{config_file}: chains[{chain.name}].protocols.morpho_blue.morpho is required")
        # The stream name carries the watched markets: adding a market later starts a fresh discovery.
        markets = ",".join(sorted(m.lower() for m in mb.markets)) or "all"
        tag = hashlib.sha256(markets.encode()).hexdigest()[:10]
        adapter = MorphoBlueAdapter(
            client,
            mb.morpho,
            mb.markets,
            deploy_block=mb.start_block,
            block_time_s=chain.block_time_s,
            price_sources=mb.price_feeds,
        )
        out.append((f"morpho_blue:{mb.morpho.lower()}:{tag}", mb.start_block, adapter))
    for name in ("compound_v3",):
        if getattr(p, name).enabled:
            raise ConfigError(
                f"{config_file}: chains[{chain.name}].protocols.{name} is enabled but its adapter is not "
                f"finished; set protocols.{name}.enabled: false"
            )
    return out


class ChainPipeline:
    def __init__(
        self,
        cfg: LiqbotConfig,
        chain: ChainConfig,
        store: Store,
        metrics: Metrics,
        config_file: str,
        session: SessionTally | None = None,  # shared by every chain of one run (the session caps)
    ) -> None:
        self.cfg, self.chain, self.store, self.metrics = cfg, chain, store, metrics
        self.session = session or SessionTally()
        self.client = ChainClient.for_chain(chain, metrics)  # every rpc_http endpoint, with failover
        self.streams = build_adapters(chain, self.client, config_file)
        self.facts = FactGatherer(cfg, chain, self.client)
        strategy = StrategyConfig(
            cfg.thresholds.min_profit_usd, cfg.thresholds.priority_fee_profit_share, tuple(cfg.deny_assets)
        )
        self.decider = Decider(store, metrics, self.facts, self._executor(), strategy)
        self.thresholds = ThresholdController(cfg, chain, store, [a.protocol for a in self.adapters], metrics)
        self.decider.cfg_for = self.thresholds.strategy_for
        if isinstance(self.decider.executor, LiveExecutor):
            self.decider.executor.gas_share_for = self.thresholds.gas_share_for
        self.reconciler = Reconciler(self.client, store)
        self.reorgs = ReorgGuard(self.client, chain.name, metrics)  # processed blocks leaving the chain
        self.block = 0
        self.events_seen = 0  # logs applied since start (the stress report's event rate)
        self._failures = 0  # block steps cut short in a row by an RPC failure
        self._rpc_seen: dict[str, int] = {}
        self.recovering: set[asyncio.Task[SendResult]] = set()  # transactions sent before a restart

    def _executor(self) -> ShadowExecutor | LiveExecutor:
        if self.cfg.execution.mode == "shadow":
            return ShadowExecutor(self.client, self.store)
        ex = self.cfg.execution
        if ex.signer is None:
            raise ConfigError("execution.signer is required to send transactions (funds/flash mode)")
        lanes = SignerLanes.from_config([ex.signer, *ex.extra_signers])
        sender = TxSender(
            self.client,
            self.store,
            lanes,
            policy=SendPolicy.for_chain(self.chain),
            route=Route.for_chain(self.client, self.chain),
            pricer=self._price_tokens,
        )
        return LiveExecutor(
            self.cfg, self.chain, self.client, self.store, sender, metrics=self.metrics, session=self.session
        )

    def _price_tokens(self, amounts: Mapping[str, int]) -> Decimal | None:
        """Realized profit in USD at this block's feed prices (None if a token has no fresh price)."""
        facts = self.decider.facts_now
        return None if facts is None else usd_pricer(facts.prices, facts.decimals)(amounts)

    def _native_usd(self) -> Decimal | None:
        """The gas token's USD price at the last decided block (values the gas paid for the thresholds)."""
        facts = self.decider.facts_now
        if facts is None or facts.native_price is None:
            return None
        return Decimal(facts.native_price.answer).scaleb(-USD_DECIMALS)

    @property
    def adapters(self) -> list[ProtocolAdapter]:
        return [a for _, _, a in self.streams]

    async def start(self, show_progress: bool = True) -> None:
        head = await self.client.block_number()
        head_block = await self.client.block(head)  # read first: a reorg during the backfill shows next step
        for stream, start_block, adapter in self.streams:
            cursor = self.store.get_cursor(self.chain.chain_id, stream)
            known = load_accounts(self.store, self.chain.chain_id, stream)
            first = await self.reorgs.resume_from(cursor, start_block, head) if cursor else start_block
            with Progress(transient=True, disable=not show_progress) as bar:
                task = bar.add_task(
                    f"{self.chain.name} {adapter.protocol}: backfill {first}..{head}", total=None
                )
                await adapter.bootstrap(
                    first,
                    head,
                    known,
                    lambda done, total, t=task: bar.update(t, completed=done, total=total),  # type: ignore[misc]
                )
            add_accounts(self.store, self.chain.chain_id, stream, adapter.accounts())
            log.info(
                "bootstrapped",
                chain=self.chain.name,
                protocol=adapter.protocol,
                block=head,
                accounts=len(adapter.accounts()),
                resumed_from=first,
            )
        self.block = head
        self.thresholds.update(head, None)
        if head > 0:  # the parent's hash too: a reorg of the first blocks then finds its fork point
            self.reorgs.processed(head - 1, str(head_block["parentHash"]))
        self.reorgs.processed(head, str(head_block["hash"]))
        await self._save_cursors(head, str(head_block["hash"]))
        if isinstance(self.decider.executor, LiveExecutor):  # before the first block: nonces must be safe
            await self._recover(head)

    async def step(self) -> bool:
        """Process every new block; True if there was one."""
        head = await self.client.block_number()
        if head <= self.block:
            return False
        t0 = time.perf_counter()
        # The header before the logs: if a reorg lands between the two reads, the hash stored for `head` is
        # the orphaned one and the next step notices. Then: is the block processed last still the chain's?
        header = await self.client.block(head)
        reorg = await self.reorgs.check(self.block, head, header)
        if reorg is not None:
            await self._rebuild(reorg)  # a fresh snapshot at head: no log is left to apply
        addresses = sorted({a for ad in self.adapters for a in ad.watched_addresses()})
        logs = [] if reorg is not None else await self.client.get_logs(self.block + 1, head, addresses)
        self.events_seen += len(logs)
        ctx = await self._context(head, int(header["timestamp"], 16))
        batches: list[tuple[ProtocolAdapter, dict[str, int]]] = []
        for stream, _, adapter in self.streams:
            mine = {a.lower() for a in adapter.watched_addresses()}
            mine_logs = [x for x in logs if str(x["address"]).lower() in mine]
            before = len(adapter.accounts())
            adv = await adapter.advance(head, mine_logs)
            if len(adapter.accounts()) != before:
                add_accounts(self.store, self.chain.chain_id, stream, adapter.accounts())
            self.metrics.positions.labels(self.chain.name, adapter.protocol).set(len(adapter.accounts()))
            self.metrics.liquidatable.labels(self.chain.name, adapter.protocol).set(len(adv.liquidatable))
            still = {b.lower() for b in adv.liquidatable}
            await self.reconciler.on_block(adapter, mine_logs, still, head, ctx.block_timestamp)
            batches.append((adapter, adv.liquidatable))
        for adapter, attempt_id, borrower in await self.decider.decide(batches, ctx):
            self.reconciler.watch(adapter.protocol, borrower, attempt_id)
            await self.reconciler.verify_detection(adapter, borrower, attempt_id, head)
        self.block = head
        self.thresholds.update(head, self._native_usd())
        self.reorgs.processed(head, str(header["hash"]))
        await self._save_cursors(head, str(header["hash"]))
        self.metrics.last_block.labels(self.chain.name).set(head)
        if isinstance(self.decider.executor, LiveExecutor):  # released by hand elsewhere: show it
            self.decider.executor.risk.publish()
        self.metrics.block_processing.labels(self.chain.name).observe(time.perf_counter() - t0)
        self.metrics.record_rpc(self.chain.name, dict(self.client.calls), self._rpc_seen)
        return True

    async def _rebuild(self, reorg: Reorg) -> None:
        """Bootstrap every adapter again at the new head: a fresh snapshot of every known account (state
        of the orphaned branch is dropped) and discovery logs from the fork point on."""
        for stream, start_block, adapter in self.streams:
            known = adapter.accounts() | set(load_accounts(self.store, self.chain.chain_id, stream))
            await adapter.bootstrap(reorg.first_block(start_block), reorg.head, known, None)
            add_accounts(self.store, self.chain.chain_id, stream, adapter.accounts())

    async def _context(self, block: int, timestamp: int) -> BlockContext:
        book: dict[str, str] = {}
        decimals: dict[str, int] = {}
        for ad in self.adapters:
            for asset, (dec, source) in ad.assets().items():
                decimals[asset.lower()] = dec
                if int(source, 16) != 0:  # Morpho oracles give ratios only: keep a market's real USD feed
                    book[asset.lower()] = source
        wn = self.chain.contracts.wrapped_native
        prices = await read_prices(self.client, FeedBook(book), self.cfg.thresholds.max_price_age_s, block)
        if wn is not None and wn.lower() not in book:
            log.warning("wrapped native token has no price source in any market", token=wn)
        seq = await read_sequencer(self.client, self.chain, SequencerRule.AAVE_SENTINEL, block)
        if self.chain.sequencer_uptime_feed is not None:
            up = -1 if seq is None or seq.answer is None else int(seq.answer == 0)
            self.metrics.sequencer_up.labels(self.chain.name, "detect").set(up)
        return BlockContext(self.chain.name, block, timestamp, self.chain.block_time_s, prices, decimals, seq)

    async def _save_cursors(self, block: int, block_hash: str | None = None) -> None:
        if block_hash is None:
            block_hash = str((await self.client.block(block))["hash"])
        for stream, _, _ in self.streams:
            self.store.set_cursor(self.chain.chain_id, stream, block, block_hash)

    async def run(self, stop: asyncio.Event) -> None:
        poll = max(0.05, self.chain.block_time_s / 10)
        if self.chain.rpc_ws:
            await self._run_with_heads(stop, poll)
            return
        while not stop.is_set():
            if not await self._guarded_step(stop):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)

    async def _guarded_step(self, stop: asyncio.Event) -> bool:
        """`step()`, surviving an outage of every endpoint instead of exiting: it waits with backoff and
        tries again. A step cut short leaves the state whole (an adapter applies a block's logs with no await
        in between and skips logs at or below its own block), but the screening of what those logs touched
        may not have run: the next step screens every position."""
        try:
            stepped = await self.step()
        except RetryableError as exc:
            self._failures += 1
            for adapter in self.adapters:
                adapter.screen_everyone_next()
            base = max(1.0, self.chain.block_time_s)
            delay = min(OUTAGE_MAX_WAIT_S, base * 2 ** min(self._failures - 1, 5))
            self.metrics.step_failures.labels(self.chain.name).inc()
            log.warning("block step failed; trying again", chain=self.chain.name, error=str(exc),
                        failures=self._failures, retry_in_s=delay)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            return False
        if self._failures:
            log.info("block steps resumed", chain=self.chain.name, block=self.block, failures=self._failures)
        self._failures = 0
        return stepped

    # New heads over WebSocket wake the step; HTTP polling stays as the fallback (see chain/heads.py).
    _heads: HeadWatcher | None = None
    _heads_task: asyncio.Task[None] | None = None

    async def _run_with_heads(self, stop: asyncio.Event, poll: float) -> None:
        heads = self._heads = HeadWatcher(
            self.chain.name, tuple(str(u) for u in self.chain.rpc_ws), self.chain.block_time_s, self.metrics
        )
        self._heads_task = asyncio.create_task(heads.run(), name=f"heads:{self.chain.name}")
        self._heads_task.add_done_callback(self._heads_done)
        seen = 0
        try:
            while not stop.is_set():
                stepped = await self._guarded_step(stop)
                heads.note_head(self.block)
                if not (stepped and not heads.live):  # live: the next head wakes us, no need to ask again
                    seen = await heads.wait(seen, heads.next_wait(self.block, poll), stop)
        finally:
            await self._stop_heads()

    def _heads_done(self, task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:  # a bug, not a network fault (those it survives): keep going on HTTP polls
            log.error("ws head watcher stopped; polling HTTP only", chain=self.chain.name, exc_info=exc)
            if self._heads is not None:
                self._heads.live = False

    async def _stop_heads(self) -> None:
        task, self._heads_task = self._heads_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _recover(self, head: int) -> None:
        """Bring the attempts a crash left unfinished to their end (see execution/recover.py); submitted
        ones are tracked in the background, and their positions are not decided again meanwhile."""
        executor = self.decider.executor
        assert isinstance(executor, LiveExecutor)
        ctx = await self._context(head, int((await self.client.block(head))["timestamp"], 16))
        ex = self.cfg.execution
        account = ex.treasury if ex.profit_to_treasury else executor.executor
        stopped = killswitch.blocking(self.store, self.chain.name, ex.stop_file) is not None
        done = await recover(executor.sender, self.chain.chain_id, profit_account=account,
                             pricer=usd_pricer(ctx.prices, ctx.decimals), stopped=stopped)  # fmt: skip
        for row, task in done.resumed:
            keys = [(row.protocol.value, b) for b in (row.borrower, to_checksum_address(row.borrower))]
            self.decider.episodes.update(dict.fromkeys(keys, row.id))
            self.recovering.add(task)
            task.add_done_callback(functools.partial(self._recovered, keys=keys))

    def _recovered(self, task: asyncio.Task[SendResult], keys: list[tuple[str, str]]) -> None:
        self.recovering.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # the row stays submitted: the next start recovers it again
            log.error("recovered transaction not tracked to its end", error=f"{type(exc).__name__}: {exc}")
            return
        row = task.result().attempt
        self.metrics.attempts.labels(self.chain.name, row.protocol.value, row.status.value).inc()
        log.info("outcome", chain=self.chain.name, id=row.id, status=row.status.value, reason=row.reason,
                 recovered=True)  # fmt: skip
        for key in keys:  # the position may be liquidatable again: decide it afresh
            self.decider.episodes.pop(key, None)

    async def drain(self, abort: asyncio.Event | None = None) -> None:
        """SIGTERM: wait for every send in flight to reach its end, at most about `confirmations + 8`
        blocks (or until `abort` is set: a second signal). Sends unfinished then are cancelled: their rows
        stay `submitted` with every signed transaction stored, and the next start recovers them."""
        tasks = [*self.decider.inflight, *self.recovering]
        if not tasks:
            return
        limit = max(30.0, self.chain.block_time_s * (self.chain.confirmations + 8))
        log.info("waiting for sends in flight", chain=self.chain.name, count=len(tasks), limit_s=limit)
        everything = asyncio.gather(*tasks, return_exceptions=True)
        stopper = asyncio.ensure_future((abort or asyncio.Event()).wait())
        waits: list[asyncio.Future[Any]] = [everything, stopper]
        try:
            await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        left = [t for t in tasks if not t.done()]
        if left:
            log.warning("sends left submitted for recovery at the next start", chain=self.chain.name,
                        count=len(left))  # fmt: skip
            for t in left:
                t.cancel()
        await everything

    async def close(self, abort: asyncio.Event | None = None) -> None:
        await self._stop_heads()
        await self.drain(abort)
        await self.facts.close()
        await self.client.close()
