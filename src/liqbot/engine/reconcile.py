"""What really happened to each decision: liquidated by someone else (in which block, how long after we saw
it), still open, or never liquidatable at all (our mistake — the chain's own view at the detection block)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient, RpcError
from liqbot.protocols.base import ProtocolAdapter
from liqbot.store import Outcome, Store

log = structlog.get_logger("liqbot.reconcile")
WAD = 10**18


class Reconciler:
    def __init__(self, client: ChainClient, store: Store) -> None:
        self.client, self.store = client, store
        self.open: dict[tuple[str, str], int] = {}  # (protocol, borrower) → attempt id awaiting an outcome

    def watch(self, protocol: str, borrower: str, attempt_id: int) -> None:
        self.open[(protocol, borrower.lower())] = attempt_id

    async def verify_detection(
        self, adapter: ProtocolAdapter, borrower: str, attempt_id: int, block: int
    ) -> bool:
        """Ask the protocol itself, at the detection block, whether the position was liquidatable."""
        if adapter.protocol != "aave_v3":
            return True
        f = fn("Pool", "getUserAccountData")
        try:
            hf = int(f.decode(await self.client.eth_call(adapter.market_id, f.encode(borrower), block))[5])
        except RpcError as exc:
            log.warning("cannot verify detection", borrower=borrower, error=str(exc))
            return True
        if hf >= WAD:
            self.store.reconcile(attempt_id, Outcome.NEVER_LIQUIDATABLE, block=block)
            self.open.pop((adapter.protocol, borrower.lower()), None)
            return False
        return True

    async def on_block(
        self,
        adapter: ProtocolAdapter,
        logs: list[dict[str, Any]],
        still: set[str],
        block: int,
        timestamp: int,
    ) -> None:
        """Liquidations in this block close their rows; positions still liquidatable are marked open."""
        at = datetime.fromtimestamp(timestamp, UTC)
        for borrower, b, tx in adapter.liquidations(logs):
            attempt_id = self.open.pop((adapter.protocol, borrower.lower()), None)
            if attempt_id is not None:
                self.store.reconcile(attempt_id, Outcome.LIQUIDATED_BY_OTHER, block=b, tx_hash=tx, at=at)
        for (proto, borrower), attempt_id in self.open.items():
            if proto == adapter.protocol and borrower in still:
                self.store.reconcile(attempt_id, Outcome.STILL_OPEN, block=block, at=at)
