"""Simulate a call as if the sender held the tokens it needs: eth_call with state overrides.

ERC-20 balance and allowance slots are found by probing (write a marker into a candidate slot through an
override, read balanceOf/allowance back), then cached per token. Covers Solidity and Vyper mapping layouts;
a token whose storage cannot be found fails the simulation (fail closed), it never passes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient, RpcError
from liqbot.chain.errors import decode_revert
from liqbot.core.errors import SkipError

MARKER = 0x1234_5678_9ABC_DEF0_1234_5678
MAX_SLOT = 64


class SimulationError(SkipError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"simulation failed: {reason}")
        self.reason = reason


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _addr(a: str) -> bytes:
    return bytes(12) + bytes.fromhex(a[2:])


def balance_key(holder: str, slot: int, vyper: bool) -> str:
    s = encode(["uint256"], [slot])
    return "0x" + keccak(s + _addr(holder) if vyper else _addr(holder) + s).hex()


def allowance_key(owner: str, spender: str, slot: int, vyper: bool) -> str:
    inner = bytes.fromhex(balance_key(owner, slot, vyper)[2:])
    return "0x" + keccak(inner + _addr(spender) if vyper else _addr(spender) + inner).hex()


@dataclass
class TokenSlots:
    client: ChainClient
    _balance: dict[str, tuple[int, bool]] = field(default_factory=dict)
    _allowance: dict[str, tuple[int, bool]] = field(default_factory=dict)

    async def _probe(self, token: str, data: bytes, key_of: Any) -> tuple[int, bool]:
        for vyper in (False, True):
            for slot in range(MAX_SLOT):
                key = key_of(slot, vyper)
                ov = {token: {"stateDiff": {key: _word(MARKER)}}}
                try:
                    out = await self.client.eth_call(token, data, overrides=ov)
                except RpcError:
                    continue
                if len(out) >= 32 and int.from_bytes(out[:32], "big") == MARKER:
                    return slot, vyper
        raise SimulationError(f"cannot locate ERC-20 storage of {token} for a state override")

    async def balance_slot(self, token: str) -> tuple[int, bool]:
        if token not in self._balance:
            probe = "0x" + "11" * 20
            data = fn("MintableERC20", "balanceOf").encode(probe)
            self._balance[token] = await self._probe(token, data, lambda s, v: balance_key(probe, s, v))
        return self._balance[token]

    async def allowance_slot(self, token: str) -> tuple[int, bool]:
        if token not in self._allowance:
            owner, spender = "0x" + "11" * 20, "0x" + "22" * 20
            data = fn("MintableERC20", "allowance").encode(owner, spender)
            self._allowance[token] = await self._probe(
                token, data, lambda s, v: allowance_key(owner, spender, s, v)
            )
        return self._allowance[token]

    async def funded(self, token: str, holder: str, spender: str, amount: int) -> dict[str, Any]:
        """Overrides that give `holder` `amount` of `token` and an unlimited allowance to `spender`."""
        bslot, bv = await self.balance_slot(token)
        aslot, av = await self.allowance_slot(token)
        diff = {
            balance_key(holder, bslot, bv): _word(amount),
            allowance_key(holder, spender, aslot, av): _word(2**256 - 1),
        }
        return {token: {"stateDiff": diff}, holder: {"balance": hex(10**21)}}


async def simulate(
    client: ChainClient,
    to: str,
    data: bytes,
    sender: str,
    overrides: dict[str, Any],
    block: int | str = "latest",
) -> bytes:
    """eth_call with overrides; a revert raises SimulationError with the node's reason."""
    try:
        return await client.eth_call(to, data, block, sender=sender, overrides=overrides)
    except RpcError as exc:
        err = exc.error
        msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        data_hex = err.get("data") if isinstance(err, dict) else None
        raise SimulationError(_reason(msg, data_hex)) from exc


def _reason(message: str, data: Any) -> str:
    """The node's revert reason, decoded by the one table every sender uses."""
    if isinstance(data, str) and len(data) >= 10:
        return decode_revert(data, message).reason
    return message
