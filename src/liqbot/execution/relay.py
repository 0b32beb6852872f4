"""Where a signed transaction goes: the public RPC, or a private relay (per chain, `private_relay`).

A relay only promises to try. So inclusion is always checked on the public chain (LESSONS: morpho's
Flashbots path never checks), and after `fallback_after_blocks` blocks without inclusion — or at once if
the relay cannot be reached — the same signed bytes go to the public RPC (fallback "public"). The same
bytes mean the same hash and nonce: a fallback can never make a second, different transaction. With
fallback "none" the transaction stays private; the sender's stuck policy (replace, cancel) then goes
through the relay too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import AMBIGUOUS, AlreadyKnownError, UnknownNodeError, retrying, rpc
from liqbot.config import ChainConfig, redact_url

log = structlog.get_logger("liqbot.relay")

Fallback = Literal["public", "none"]
RouteName = Literal["public", "relay"]


@dataclass(frozen=True)
class Sent:
    """How a broadcast went. `accepted` False means we do not know (timeout, garbled answer): the
    transaction may be in a pool, so its nonce stays taken and tracking goes on."""

    route: RouteName
    accepted: bool
    detail: str = ""


class Route:
    def __init__(
        self,
        public: ChainClient,
        relay: ChainClient | None = None,
        *,
        fallback: Fallback = "public",
        fallback_after_blocks: int = 2,
    ) -> None:
        if fallback_after_blocks < 1:
            raise ValueError("fallback_after_blocks must be at least 1")
        self.public, self.relay = public, relay
        self.fallback, self.fallback_after_blocks = fallback, fallback_after_blocks

    @classmethod
    def for_chain(
        cls, public: ChainClient, chain: ChainConfig, *, fallback: Fallback = "public", timeout: float = 5.0
    ) -> Route:
        relay = None
        if chain.private_relay is not None:
            relay = ChainClient(str(chain.private_relay), chain.chain_id, timeout=timeout)
        blocks = max(1, round(24 / chain.block_time_s)) if relay else 2  # ~24 s, at least one block
        return cls(public, relay, fallback=fallback, fallback_after_blocks=blocks)

    @property
    def private(self) -> bool:
        return self.relay is not None

    async def send(self, raw: bytes, *, public: bool = False) -> Sent:
        """Broadcast `raw`. A definitive refusal (the table's NodeError, except AlreadyKnownError) raises."""
        if self.relay is not None and not public:
            try:
                return await _send(self.relay, raw, "relay")
            except AMBIGUOUS as exc:
                if self.fallback == "none":
                    return Sent("relay", False, f"relay unreachable: {type(exc).__name__}")
                log.warning("relay unreachable, sending publicly", relay=redact_url(self.relay.url),
                            error=type(exc).__name__)  # fmt: skip
            except UnknownNodeError as exc:  # the relay's own policy, not the transaction's validity
                if self.fallback == "none":
                    raise
                log.warning("relay refused, sending publicly", relay=redact_url(self.relay.url),
                            error=exc.node_message)  # fmt: skip
        try:
            return await _send(self.public, raw, "public")
        except AMBIGUOUS as exc:
            return Sent("public", False, f"public RPC: {type(exc).__name__}")

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()


async def _send(client: ChainClient, raw: bytes, route: RouteName) -> Sent:
    try:
        await retrying(lambda: rpc(client, "eth_sendRawTransaction", "0x" + raw.hex()))
    except AlreadyKnownError:
        return Sent(route, True, "already known")
    return Sent(route, True)
