"""The executor contract's committed artifact, and what its ABI alone gives: an offline codec and the
decoding of its custom errors into sentences an operator can act on."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, cast

from eth_abi import decode
from eth_typing import ABIError
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError

from liqbot.core.errors import LiqbotError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class ExecutorError(LiqbotError):
    """The executor contract refused a call; `reason` is a sentence, `error` the custom error's name."""

    def __init__(self, reason: str, error: str | None = None, args: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.error, self.error_args = reason, error, args or {}


@cache
def load_artifact() -> dict[str, Any]:
    """The committed build (abi, bytecode, deployedBytecode, compiler and settings)."""
    text = resources.files("liqbot.contracts").joinpath("build", "LiqExecutor.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def executor_abi() -> list[dict[str, Any]]:
    abi: list[dict[str, Any]] = load_artifact()["abi"]
    return abi


@cache
def codec() -> Contract:
    """An address-less contract object: enough to encode calls and decode logs offline."""
    contract: Contract = Web3().eth.contract(address=to_checksum_address(ZERO_ADDRESS), abi=executor_abi())
    return contract


_SOURCES = {0: "funds", 1: "aave_flash", 2: "morpho_flash", 3: "morpho_callback"}  # the contract's Source
_EXPLAIN: dict[str, str] = {
    "NotOwner": "only the owner may do this (caller {caller})",
    "NotPendingOwner": "only the pending owner may accept ownership (caller {caller})",
    "NotExecutor": "{caller} is neither the owner nor an allowed executor key",
    "IsPaused": "the executor is paused",
    "Reentrancy": "reentrant call refused",
    "ZeroAddress": "an address argument is zero",
    "ZeroAmount": "an amount argument is zero",
    "BadRecipient": "withdrawals go only to the owner or the treasury, not {to}",
    "RouterNotAllowed": "router {router} is not on the allowlist",
    "Expired": "deadline {deadline} passed (block time {timestamp})",
    "SameAsset": "collateral and debt are the same asset {asset}",
    "UnsupportedSource": "funding source {source} cannot be used for this liquidation",
    "UntrustedInitiator": "flash-loan callback started by {initiator}, not by the executor itself",
    "UnexpectedCallback": "callback from {caller} that the executor did not start",
    "CallbackDataMismatch": "callback data differs from what the executor sent",
    "CallbackNotCalled": "the lender never called back",
    "NothingSeized": "the liquidation seized no collateral",
    "SwapIncomplete": "the router left {leftover} of the collateral unswapped",
    "SwapOutputTooLow": "swap returned {amountOut}, below the minimum {minAmountOut}",
    "RepayAboveMax": "Morpho asked for {repaid}, above maxRepay {maxRepay}",
    "Unprofitable": "profit {profit} is below minProfit {minProfit} (debt-asset units)",
    "BalanceBelowStart": "debt-asset balance {balance} ended below {expectedAtLeast}",
    "TokenCallFailed": "token {token} refused call {selector}",
}
_PANIC = bytes.fromhex("4e487b71")
_ERROR_STRING = bytes.fromhex("08c379a0")


@cache
def _error_table() -> dict[bytes, dict[str, Any]]:
    errors = [e for e in executor_abi() if e["type"] == "error"]
    return {bytes(function_abi_to_4byte_selector(cast(ABIError, e))): e for e in errors}


def decode_error(data: bytes | str | None) -> ExecutorError:
    """Revert data → ExecutorError with a sentence; Error(string) and Panic pass through readably."""
    raw = bytes(HexBytes(data)) if data else b""
    if len(raw) < 4:
        return ExecutorError("reverted without a reason")
    if raw[:4] == _ERROR_STRING:
        (msg,) = decode(["string"], raw[4:])
        return ExecutorError(f"reverted: {msg}", "Error", {"message": msg})
    if raw[:4] == _PANIC:
        (code,) = decode(["uint256"], raw[4:])
        return ExecutorError(f"panic 0x{code:02x}", "Panic", {"code": code})
    abi = _error_table().get(raw[:4])
    if abi is None:
        return ExecutorError(f"reverted with unknown error 0x{raw[:4].hex()}")
    types = [i["type"] for i in abi["inputs"]]
    values = decode(types, raw[4:])
    args: dict[str, Any] = {}
    for item, value in zip(abi["inputs"], values, strict=True):
        if item["type"] == "address":
            value = to_checksum_address(value)
        shown = "0x" + value.hex() if isinstance(value, bytes) else value
        args[item["name"]] = _SOURCES.get(value, value) if item["name"] == "source" else shown
    text = _EXPLAIN.get(abi["name"], abi["name"]).format(**args)
    return ExecutorError(f"{abi['name']}: {text}", abi["name"], args)


def as_executor_error(exc: Exception) -> ExecutorError:
    data = getattr(exc, "data", None)
    if isinstance(exc, ContractCustomError | ContractLogicError) and isinstance(data, str | bytes):
        return decode_error(data)
    if isinstance(exc, ContractLogicError):  # Error(string): web3 puts the text in the message
        return ExecutorError(f"reverted: {exc.message or exc}", "Error")
    return ExecutorError(f"reverted: {type(exc).__name__}")
