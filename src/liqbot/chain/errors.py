"""Node error strings → typed exceptions, in ONE table; revert data → a decoded reason; and the protocol
reasons that mean another liquidator got there first.

Every exception sits under the root that says what to do (core/errors.py): Stop (a person must fix the
signer, its funds or our gas limit), Retryable (fees or nonces moved: rebid, resync), Skip (this one call
cannot go ahead). Wording covered: geth `core/error.go` and `core/txpool/errors.go` (they wrap details
after a colon, so we match substrings), reth, and what anvil 1.7.1 answers (checked on the devnet;
tests/unit/test_chain_errors.py holds the recorded answers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiohttp
from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from web3.exceptions import Web3Exception

from liqbot.chain.client import ChainClient, RpcError
from liqbot.core.errors import LiqbotError, RetryableError, SkipError, StopError

T = TypeVar("T")


class NodeError(LiqbotError):
    """The node answered a JSON-RPC error. `node_message` is its text, `code` its JSON-RPC code."""

    def __init__(self, node_message: str, code: int | None = None) -> None:
        super().__init__(f"{type(self).__name__}: {node_message}")
        self.node_message, self.code = node_message, code


class AlreadyKnownError(NodeError):
    """The node already holds this exact transaction: the send succeeded earlier. Nothing to do."""


class NonceTooLowError(NodeError, RetryableError):
    """The nonce is used already: resync the signer's nonce from the node."""


class NonceTooHighError(NodeError, RetryableError):
    """A gap below this nonce (some nodes refuse instead of queueing): resync."""


class ReplacementUnderpricedError(NodeError, RetryableError):
    """Another transaction holds this nonce and our fees do not beat it by the node's bump: bump more."""


class UnderpricedError(NodeError, RetryableError):
    """The tip is below the pool's minimum: bid again with a higher tip."""


class FeeCapTooLowError(NodeError, RetryableError):
    """max fee per gas is below the base fee (it rose): rebid, or skip if the budget cannot pay it."""


class PoolFullError(NodeError, RetryableError):
    """The node's pool is full or refuses more from this account now."""


class InsufficientFundsError(NodeError, StopError):
    """The signer cannot pay gas × price + value: fund it."""


class BadGasLimitError(NodeError, StopError):
    """Intrinsic gas too low, or above the block gas limit: our gas limit is wrong (a bug to fix)."""


class InvalidTransactionError(NodeError, StopError):
    """Malformed for this chain (wrong chain id, tip above max fee, bad signature): a bug or bad config."""


class UnknownNodeError(NodeError, SkipError):
    """An error no table row matches: this call is skipped and the text is kept for a person to read."""


RevertKind = Literal["error", "panic", "custom", "empty"]
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANICS = {0x00: "generic", 0x01: "assert failed", 0x11: "arithmetic underflow or overflow",
           0x12: "division by zero", 0x21: "invalid enum value", 0x22: "bad storage byte array",
           0x31: "pop on empty array", 0x32: "array index out of bounds", 0x41: "out of memory",
           0x51: "call to zero-initialized function"}  # fmt: skip


@dataclass(frozen=True)
class Revert:
    """Decoded revert data. `reason`: the Error(string) text, "panic 0x11 (...)", or the custom error's
    4-byte selector as 0x-hex (passed through: we do not guess its ABI)."""

    kind: RevertKind
    reason: str
    data: bytes

    @property
    def selector(self) -> str | None:
        return "0x" + self.data[:4].hex() if len(self.data) >= 4 else None


class ExecutionRevertedError(NodeError, SkipError):
    """The call reverted (in eth_call, eth_estimateGas, or on chain when replayed)."""

    def __init__(self, node_message: str, code: int | None = None, revert: Revert | None = None) -> None:
        super().__init__(node_message, code)
        self.revert = revert or Revert("empty", "", b"")

    @property
    def reason(self) -> str:
        return self.revert.reason or "no reason given"


class LostRaceError(ExecutionRevertedError):
    """Reverted for a reason that means the position was liquidated (or cured) first: not our failure."""

    @property
    def race(self) -> str:
        return race_label(self.revert) or "lost race"


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


# Protocol reasons that mean we lost the race. Aave v3.0/3.1 revert with Errors.sol string codes; in
# liquidationCall (ValidationLogic.validateLiquidationCall) a competitor's liquidation turns into:
#   '45' HEALTH_FACTOR_NOT_BELOW_THRESHOLD       the position is healthy again (partial liquidation)
#   '46' COLLATERAL_CANNOT_BE_LIQUIDATED         the collateral was seized to zero, its bit cleared
#   '47' SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER the debt was repaid to zero
# ('43' UNDERLYING_BALANCE_ZERO is not reachable from liquidationCall, so it is not here.) Aave v3.2+ and
# its forks use custom errors of the same names. Morpho Blue: ErrorsLib.HEALTHY_POSITION. Its
# "inconsistent input" is our own bad arguments, not a race. Compound V3: absorb's NotLiquidatable().
RACE_REASONS: dict[str, str] = {
    "45": "aave: HEALTH_FACTOR_NOT_BELOW_THRESHOLD",
    "46": "aave: COLLATERAL_CANNOT_BE_LIQUIDATED",
    "47": "aave: SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER",
    "position is healthy": "morpho: position is healthy",
}
RACE_SELECTORS: dict[str, str] = {
    _selector("HealthFactorNotBelowThreshold()"): "aave: HealthFactorNotBelowThreshold()",
    _selector("CollateralCannotBeLiquidated()"): "aave: CollateralCannotBeLiquidated()",
    _selector("SpecifiedCurrencyNotBorrowedByUser()"): "aave: SpecifiedCurrencyNotBorrowedByUser()",
    _selector("NotLiquidatable()"): "compound v3: NotLiquidatable()",
}


def race_label(revert: Revert) -> str | None:
    if revert.kind == "error":
        return RACE_REASONS.get(revert.reason)
    if revert.kind == "custom" and revert.selector is not None:
        return RACE_SELECTORS.get(revert.selector)
    return None


# THE table: a lowercase piece of the node's message → the exception. First match wins, so longer
# phrases come before the shorter ones they contain ("replacement transaction underpriced" before
# "transaction underpriced").
NODE_ERRORS: tuple[tuple[str, type[NodeError]], ...] = (
    ("execution reverted", ExecutionRevertedError),  # geth, anvil (code 3, revert data in `data`)
    ("vm exception while processing transaction", ExecutionRevertedError),  # hardhat, ganache
    ("replacement transaction underpriced", ReplacementUnderpricedError),  # geth, anvil, erigon
    ("insufficient gas price to replace", ReplacementUnderpricedError),  # reth
    ("already known", AlreadyKnownError),  # geth
    ("already imported", AlreadyKnownError),  # anvil: "transaction already imported"
    ("existing tx with same hash", AlreadyKnownError),  # erigon
    ("nonce too low", NonceTooLowError),  # geth "nonce too low: address ..., tx: 5 state: 7", anvil
    ("nonce is too low", NonceTooLowError),  # openethereum / nethermind wording
    ("nonce too high", NonceTooHighError),  # geth (when it refuses a gap), erigon
    ("insufficient funds", InsufficientFundsError),  # geth "insufficient funds for gas * price + value: ...";
    #                                              anvil "Insufficient funds for gas * price + value"
    ("intrinsic gas too low", BadGasLimitError),  # geth, anvil
    ("intrinsic gas too high", BadGasLimitError),  # anvil: gas limit above the block's
    ("exceeds block gas limit", BadGasLimitError),  # geth
    ("max fee per gas less than block base fee", FeeCapTooLowError),  # geth, anvil
    ("fee cap less than block base fee", FeeCapTooLowError),  # older geth
    ("max priority fee per gas higher than max fee per gas", InvalidTransactionError),  # geth, anvil
    ("tip higher than fee cap", InvalidTransactionError),  # older geth
    ("invalid chain id", InvalidTransactionError),  # anvil "invalid chain id for signer"
    ("invalid sender", InvalidTransactionError),  # geth: bad signature or another chain's id
    ("transaction underpriced", UnderpricedError),  # geth: below the pool's minimum tip
    ("txpool is full", PoolFullError),  # geth
    ("account limit exceeded", PoolFullError),  # geth
)


# Answers that blame the endpoint, not the call: the pool (chain/pool.py) tries another endpoint and only
# hands the answer on when every endpoint gave one. Rate limits (HTTP 429 is caught before this: Alchemy,
# Infura, QuickNode also answer them in JSON-RPC with code 429 or these words), and a node that does not
# have the block asked for yet (behind the others). Everything else, reverts first, is the call's answer.
ENDPOINT_FAULTS: tuple[tuple[str, Literal["rate_limit", "head_lag"]], ...] = (
    ("rate limit", "rate_limit"),  # "rate limit exceeded", "exceeded its rate limit"
    ("too many requests", "rate_limit"),
    ("compute units per second", "rate_limit"),  # alchemy: "exceeded its compute units per second capacity"
    ("daily request count exceeded", "rate_limit"),  # infura
    ("header not found", "head_lag"),  # geth, for a block it has not imported
    ("unknown block", "head_lag"),  # erigon, nethermind
)


def endpoint_fault(error: Any) -> Literal["rate_limit", "head_lag"] | None:
    """Why this JSON-RPC `error` object is the endpoint's fault rather than the call's, or None."""
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    if isinstance(error, dict) and error.get("code") == 429:
        return "rate_limit"
    low = message.lower()
    if "execution reverted" in low:  # a revert's reason text can say anything: it is always an answer
        return None
    return next((reason for needle, reason in ENDPOINT_FAULTS if needle in low), None)


def decode_revert(data: bytes | str | None, message: str = "") -> Revert:
    """Error(string) → its text; Panic(uint256) → "panic 0x.. (meaning)"; anything else → the selector.
    Without data (some providers drop it) the text after "execution reverted: " is the reason."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data or b"")
    if raw[:4] == ERROR_SELECTOR:
        try:
            (text,) = decode(["string"], raw[4:])
            return Revert("error", str(text), raw)
        except (DecodingError, ValueError):  # malformed Error(string): keep the raw bytes instead
            return Revert("custom", "0x" + raw.hex(), raw)
    if raw[:4] == PANIC_SELECTOR and len(raw) == 36:
        code = int.from_bytes(raw[4:], "big")
        return Revert("panic", f"panic 0x{code:02x} ({_PANICS.get(code, 'unknown')})", raw)
    if len(raw) >= 4:
        return Revert("custom", "0x" + raw[:4].hex(), raw)
    _, sep, tail = message.partition("execution reverted: ")
    return Revert("error", tail, raw) if sep and tail else Revert("empty", "", raw)


def node_error(error: Any) -> NodeError:
    """The typed exception for one JSON-RPC `error` object ({code, message, data}) or bare message."""
    if isinstance(error, dict):
        message, code, data = str(error.get("message", "")), error.get("code"), error.get("data")
    else:
        message, code, data = str(error), None, None
    code = code if isinstance(code, int) else None
    low = message.lower()
    cls: type[NodeError] = UnknownNodeError
    for needle, candidate in NODE_ERRORS:
        if needle in low:
            cls = candidate
            break
    if cls is ExecutionRevertedError or (cls is UnknownNodeError and code == 3):
        if isinstance(data, dict):  # some providers nest it: {"data": {"data": "0x..."}}
            data = data.get("data")
        revert = decode_revert(data if isinstance(data, str) else None, message)
        kind = LostRaceError if race_label(revert) else ExecutionRevertedError
        return kind(message, code, revert)
    return cls(message, code)


def reverted(data: bytes | str | None, message: str = "reverted on chain") -> ExecutionRevertedError:
    """The exception for revert data we got ourselves (a trace or replay of a mined transaction)."""
    revert = decode_revert(data, message)
    return (LostRaceError if race_label(revert) else ExecutionRevertedError)(message, None, revert)


# What is temporary: the connection, not the node's answer. A JSON-RPC error is an answer; it goes
# through the table instead and is never retried blindly.
TRANSIENT: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError, OSError)
# A response that is not JSON-RPC at all (LESSONS: never crash on one) is ambiguous, like a timeout.
AMBIGUOUS: tuple[type[Exception], ...] = (*TRANSIENT, Web3Exception, ValueError)


async def retrying(fn: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """The one retry policy of the transaction path: transport failures only, exponential backoff."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        reraise=True,
    ):
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


async def rpc(client: ChainClient, method: str, *params: Any) -> Any:
    """client.request with the node's errors typed through the table (transport errors pass through)."""
    try:
        return await client.request(method, *params)
    except RpcError as exc:
        raise node_error(exc.error) from exc
