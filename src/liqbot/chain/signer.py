"""Signer lanes: several local keys per chain, so one stuck transaction holds up one lane, not the bot.

Keys come from the environment or an encrypted keystore (liqbot.config.resolve_signer_key). A lane shows
only its address: no repr, str, log line or pickle ever carries the key."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from eth_account import Account
from eth_account.signers.local import LocalAccount

from liqbot.config import SignerConfig, resolve_signer_key
from liqbot.core.errors import ConfigError


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: str  # 0x-hex, known before anything is sent: it is recorded first (crash safety)
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas_limit: int


class SignerLane:
    """One key. Signs EIP-1559 transactions; never reveals the key."""

    __slots__ = ("_account", "address")

    def __init__(self, private_key: str) -> None:
        try:
            account: LocalAccount = Account.from_key(private_key)
        except (ValueError, TypeError):
            raise ConfigError("a signer key is not a valid secp256k1 private key") from None
        self._account = account
        self.address: str = account.address

    def sign(self, tx: Mapping[str, Any]) -> SignedTx:
        signed = self._account.sign_transaction(dict(tx))
        return SignedTx(
            raw=bytes(signed.raw_transaction),
            hash="0x" + bytes(signed.hash).hex(),
            nonce=int(tx["nonce"]),
            max_fee_per_gas=int(tx["maxFeePerGas"]),
            max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),
            gas_limit=int(tx["gas"]),
        )

    def __repr__(self) -> str:
        return f"SignerLane({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SignerLane holds a private key and cannot be pickled or copied")


class SignerLanes:
    """The lanes of one chain. `pick` takes the least busy lane; ties go round-robin."""

    def __init__(self, lanes: Sequence[SignerLane]) -> None:
        if not lanes:
            raise ConfigError("sending transactions needs at least one signer key")
        seen = [lane.address.lower() for lane in lanes]
        if len(set(seen)) != len(seen):
            raise ConfigError("the same signer key is configured twice: lanes would share nonces")
        self._lanes = tuple(lanes)
        self._turn = itertools.count()

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> SignerLanes:
        return cls([SignerLane(k) for k in keys])

    @classmethod
    def from_config(
        cls, signers: Sequence[SignerConfig], env: Mapping[str, str] | None = None
    ) -> SignerLanes:
        """One lane per signer entry (environment variable or keystore)."""
        return cls([SignerLane(resolve_signer_key(s, env)) for s in signers])

    def pick(self, busy: Callable[[str], int]) -> SignerLane:
        start = next(self._turn) % len(self._lanes)
        order = self._lanes[start:] + self._lanes[:start]
        return min(order, key=lambda lane: busy(lane.address))  # min keeps the first of equals

    def get(self, address: str) -> SignerLane:
        for lane in self._lanes:
            if lane.address.lower() == address.lower():
                return lane
        raise KeyError(f"no signer lane for {address}")

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(lane.address for lane in self._lanes)

    def __iter__(self) -> Iterator[SignerLane]:
        return iter(self._lanes)

    def __len__(self) -> int:
        return len(self._lanes)

    def __repr__(self) -> str:
        return f"SignerLanes({', '.join(self.addresses)})"
