"""Nonces per signer, kept locally so sends never wait on the node, and the fee bump a replacement needs.

A nonce is bound to the payload it was taken for (to, value, calldata). It may carry another payload only
to cancel it (a 0-value self-transfer), so a retry can never turn into a different transaction at a nonce
the network may already hold. A nonce the node refused outright is given back: rolled back if it was the
newest, otherwise it leaves a gap under later transactions, which the sender fills with a cancel."""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, Decimal

from eth_utils import keccak

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import retrying, rpc
from liqbot.core.errors import StopError

CANCEL = b"cancel"  # the payload of a 0-value self-transfer at a nonce we give up on
DEFAULT_BUMP = Decimal("0.125")  # geth's pool wants +10% on both fees; 12.5% clears geth, reth, erigon


class NonceConflictError(StopError):
    """A bug: a nonce was about to carry a different payload. Nothing was signed."""


def payload_key(to: str, data: bytes, value: int = 0) -> bytes:
    return keccak(bytes.fromhex(to.lower().removeprefix("0x")) + value.to_bytes(32, "big") + data)


def bumped(fee: int, bump: Decimal = DEFAULT_BUMP) -> int:
    """fee × (1 + bump), rounded up, and at least fee + 1 (a 0 tip must still move)."""
    if fee < 0 or bump <= 0:
        raise ValueError(f"need fee >= 0 and bump > 0, got {fee}, {bump}")
    up = (Decimal(fee) * (1 + bump)).to_integral_value(rounding=ROUND_CEILING)
    return max(int(up), fee + 1)


def replacement_fees(
    tip: int, max_fee: int, next_base_fee: int, bump: Decimal = DEFAULT_BUMP
) -> tuple[int, int]:
    """(tip, max fee) for a replacement: both raised by at least `bump` over the transaction it replaces,
    and the max fee high enough for the next block (2 × base + tip) when the base fee has risen."""
    new_tip = bumped(tip, bump)
    return new_tip, max(bumped(max_fee, bump), 2 * next_base_fee + new_tip)


class NonceBook:
    """One signer's nonces. Pure: the manager feeds it the node's counts."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.next: int | None = None
        self._bound: dict[int, bytes] = {}  # nonce -> payload, while a transaction may hold it

    @property
    def synced(self) -> bool:
        return self.next is not None

    @property
    def busy(self) -> int:
        """Nonces in flight: taken and not yet known to be mined or given back."""
        return len(self._bound)

    def in_flight(self) -> list[int]:
        return sorted(self._bound)

    def sync(self, pending_count: int) -> None:
        """Take the node's pending count. Never goes back below what we handed out: those nonces may be in
        some pool, and reusing them would put a second payload on them."""
        if pending_count < 0:
            raise ValueError(f"negative transaction count {pending_count}")
        self.next = pending_count if self.next is None else max(self.next, pending_count)

    def hold(self, nonce: int, payload: bytes) -> None:
        """A transaction of ours from before a restart may hold `nonce` (recovery): bind it, and never hand
        out it or anything below it. Call after `sync`, so the node's pending count is in too."""
        if nonce < 0:
            raise ValueError(f"negative nonce {nonce}")
        self._bound[nonce] = payload
        self.next = nonce + 1 if self.next is None else max(self.next, nonce + 1)

    def take(self, payload: bytes) -> int:
        if self.next is None:
            raise NonceConflictError(f"nonces of {self.address} are not synced with the node yet")
        nonce, self.next = self.next, self.next + 1
        self._bound[nonce] = payload
        return nonce

    def check(self, nonce: int, payload: bytes) -> None:
        """Allow signing `payload` at `nonce`: its own payload again (a replacement) or a cancel."""
        bound = self._bound.get(nonce)
        if bound is None:
            raise NonceConflictError(f"nonce {nonce} of {self.address} is not in flight: take a new one")
        if payload not in (bound, CANCEL):
            raise NonceConflictError(f"nonce {nonce} of {self.address} carries another payload")

    def release(self, nonce: int) -> bool:
        """The node refused the transaction at `nonce`, so nothing holds it. Returns True when it leaves a
        gap under later nonces (the caller must fill it with a cancel; it stays bound to CANCEL)."""
        if nonce not in self._bound:
            return False
        if self.next is not None and nonce == self.next - 1:
            del self._bound[nonce]
            self.next = nonce
            return False
        self._bound[nonce] = CANCEL
        return True

    def done(self, nonce: int) -> None:
        """The nonce is used on chain (by us or anyone). Nonces are mined in order, so every lower one is
        used too: forget them all."""
        for n in [n for n in self._bound if n <= nonce]:
            del self._bound[n]


class NonceManager:
    """NonceBooks for every signer of one chain, synced on first use and after "nonce too low"."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self._books: dict[str, NonceBook] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def book(self, address: str) -> NonceBook:
        key = address.lower()
        if key not in self._books:
            self._books[key] = NonceBook(address)
            self._locks[key] = asyncio.Lock()
        return self._books[key]

    def busy(self, address: str) -> int:
        return self.book(address).busy

    async def take(self, address: str, payload: bytes) -> int:
        book = self.book(address)
        async with self._locks[address.lower()]:
            if not book.synced:
                book.sync(await self._pending_count(address))
            return book.take(payload)

    async def resync(self, address: str) -> int:
        """Re-read eth_getTransactionCount(pending); returns the next nonce we will hand out."""
        book = self.book(address)
        async with self._locks[address.lower()]:
            book.sync(await self._pending_count(address))
            assert book.next is not None
            return book.next

    async def mined_count(self, address: str) -> int:
        """eth_getTransactionCount(latest): every nonce below it is used on chain."""
        return int(await retrying(lambda: rpc(self.client, "eth_getTransactionCount", address, "latest")), 16)

    async def _pending_count(self, address: str) -> int:
        return int(
            await retrying(lambda: rpc(self.client, "eth_getTransactionCount", address, "pending")), 16
        )
