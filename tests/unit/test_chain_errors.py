"""The node-error table against the answers nodes really give.

ANVIL: recorded from anvil 1.7.1 (eth_sendRawTransaction / eth_call on the devnet; the integration test
test_sender.py::test_error_table_on_live_anvil triggers the same ones live). GETH: the wording of
go-ethereum core/error.go and core/txpool/errors.go as the RPC returns it (geth wraps details after ': ')."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from liqbot.chain.errors import (
    NODE_ERRORS,
    AlreadyKnownError,
    BadGasLimitError,
    ExecutionRevertedError,
    FeeCapTooLowError,
    InsufficientFundsError,
    InvalidTransactionError,
    LostRaceError,
    NodeError,
    NonceTooHighError,
    NonceTooLowError,
    PoolFullError,
    ReplacementUnderpricedError,
    UnderpricedError,
    UnknownNodeError,
    decode_revert,
    node_error,
    reverted,
)
from liqbot.core.errors import RetryableError, SkipError, StopError


def _err(text: str) -> str:
    return "0x08c379a0" + encode(["string"], [text]).hex()


ANVIL: list[tuple[dict[str, object], type[NodeError]]] = [
    ({"code": -32003, "message": "nonce too low"}, NonceTooLowError),
    ({"code": -32000, "message": "intrinsic gas too low"}, BadGasLimitError),
    ({"code": -32003, "message": "Insufficient funds for gas * price + value"}, InsufficientFundsError),
    ({"code": -32003, "message": "max fee per gas less than block base fee"}, FeeCapTooLowError),
    (
        {"code": -32003, "message": "max priority fee per gas higher than max fee per gas"},
        InvalidTransactionError,
    ),
    ({"code": -32003, "message": "invalid chain id for signer"}, InvalidTransactionError),
    (
        {"code": -32000, "message": "intrinsic gas too high -- tx.gas_limit > env.block.gas_limit"},
        BadGasLimitError,
    ),
    ({"code": -32003, "message": "transaction already imported"}, AlreadyKnownError),
    ({"code": -32003, "message": "replacement transaction underpriced"}, ReplacementUnderpricedError),
    ({"code": 3, "message": "execution reverted", "data": "0x"}, ExecutionRevertedError),
]

GETH: list[tuple[str, type[NodeError]]] = [
    ("nonce too low: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, tx: 5 state: 7", NonceTooLowError),
    ("nonce too high: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, tx: 9 state: 7", NonceTooHighError),
    ("already known", AlreadyKnownError),
    ("replacement transaction underpriced", ReplacementUnderpricedError),
    ("transaction underpriced: tip needed 1000000000, tip permitted 1", UnderpricedError),
    (
        "insufficient funds for gas * price + value: address 0x7099...79C8 have 0 want 21000000000000",
        InsufficientFundsError,
    ),
    ("intrinsic gas too low: gas 20000, minimum needed 21000", BadGasLimitError),
    ("exceeds block gas limit", BadGasLimitError),
    (
        "max fee per gas less than block base fee: address 0x7099...79C8, maxFeePerGas: 1, baseFee: 7",
        FeeCapTooLowError,
    ),
    (
        "max priority fee per gas higher than max fee per gas: address 0x..., maxPriorityFeePerGas: 2",
        InvalidTransactionError,
    ),
    ("invalid sender", InvalidTransactionError),
    ("txpool is full", PoolFullError),
    ("account limit exceeded", PoolFullError),
    (
        "[0xab..]: insufficient gas price to replace existing transaction.",
        ReplacementUnderpricedError,
    ),  # reth
]


@pytest.mark.parametrize(("error", "expected"), ANVIL)
def test_anvil_answers(error: dict[str, object], expected: type[NodeError]) -> None:
    exc = node_error(error)
    assert type(exc) is expected
    assert exc.node_message == error["message"] and exc.code == error["code"]


@pytest.mark.parametrize(("message", "expected"), GETH)
def test_geth_wording(message: str, expected: type[NodeError]) -> None:
    exc = node_error({"code": -32000, "message": message})
    assert type(exc) is expected


def test_roots_say_what_the_operator_does() -> None:
    assert issubclass(InsufficientFundsError, StopError)  # fund the signer
    assert issubclass(BadGasLimitError, StopError) and issubclass(InvalidTransactionError, StopError)
    for retry in (NonceTooLowError, NonceTooHighError, ReplacementUnderpricedError, FeeCapTooLowError):
        assert issubclass(retry, RetryableError)
    assert issubclass(ExecutionRevertedError, SkipError) and issubclass(LostRaceError, SkipError)
    assert not issubclass(AlreadyKnownError, StopError | RetryableError | SkipError)  # nothing to do


def test_longer_phrases_come_first() -> None:
    """A row whose needle contains an earlier row's needle would never match: the table forbids it."""
    needles = [n for n, _ in NODE_ERRORS]
    for i, later in enumerate(needles):
        for earlier in needles[:i]:
            assert earlier not in later, f"{later!r} is shadowed by {earlier!r}"
    assert all(n == n.lower() for n in needles)


def test_unknown_text_is_kept() -> None:
    exc = node_error({"code": -32000, "message": "rate limited by relay policy"})
    assert type(exc) is UnknownNodeError and "rate limited" in str(exc)
    assert type(node_error("something odd")) is UnknownNodeError


# ---- reverts (data as anvil 1.7.1 returns it for eth_call and eth_estimateGas) -------------------------


def test_error_string_45_is_a_lost_race() -> None:
    exc = node_error({"code": 3, "message": "execution reverted: 45", "data": _err("45")})
    assert isinstance(exc, LostRaceError)
    assert exc.reason == "45" and exc.race == "aave: HEALTH_FACTOR_NOT_BELOW_THRESHOLD"


@pytest.mark.parametrize("code", ["46", "47"])
def test_aave_collateral_or_debt_gone_is_a_lost_race(code: str) -> None:
    assert isinstance(node_error({"code": 3, "message": "x", "data": _err(code)}), LostRaceError)


@pytest.mark.parametrize("code", ["43", "26", "35", "59"])
def test_other_aave_codes_are_plain_reverts(code: str) -> None:
    exc = node_error({"code": 3, "message": "x", "data": _err(code)})
    assert type(exc) is ExecutionRevertedError and exc.reason == code


def test_morpho_healthy_is_a_race_and_inconsistent_input_is_not() -> None:
    healthy = node_error({"code": 3, "message": "execution reverted: position is healthy",
                          "data": _err("position is healthy")})  # fmt: skip
    assert isinstance(healthy, LostRaceError) and healthy.race == "morpho: position is healthy"
    bad = node_error({"code": 3, "message": "execution reverted: inconsistent input",
                      "data": _err("inconsistent input")})  # fmt: skip
    assert type(bad) is ExecutionRevertedError and bad.reason == "inconsistent input"


def test_panic_is_decoded() -> None:
    data = "0x4e487b71" + encode(["uint256"], [0x11]).hex()
    msg = "execution reverted: panic: arithmetic underflow or overflow (0x11)"
    exc = node_error({"code": 3, "message": msg, "data": data})
    assert type(exc) is ExecutionRevertedError
    assert exc.revert.kind == "panic" and exc.reason == "panic 0x11 (arithmetic underflow or overflow)"


def test_custom_error_passes_through_as_selector() -> None:
    data = "0xdeadbeef" + encode(["uint256"], [7]).hex()
    exc = node_error({"code": 3, "message": "execution reverted: custom error 0xdeadbeef: ...", "data": data})
    assert type(exc) is ExecutionRevertedError
    assert exc.revert.kind == "custom" and exc.reason == "0xdeadbeef" and exc.revert.selector == "0xdeadbeef"
    assert exc.revert.data == bytes.fromhex(data[2:])


def test_custom_race_errors_by_selector() -> None:
    for sig in ("HealthFactorNotBelowThreshold()", "NotLiquidatable()"):
        data = "0x" + keccak(text=sig)[:4].hex()
        assert isinstance(
            node_error({"code": 3, "message": "execution reverted", "data": data}), LostRaceError
        )


def test_empty_revert_and_reason_without_data() -> None:
    empty = node_error({"code": 3, "message": "execution reverted", "data": "0x"})
    assert empty.revert.kind == "empty" and empty.reason == "no reason given"  # type: ignore[attr-defined]
    # Some providers drop `data`; the reason is then read from the message.
    bare = node_error({"code": -32000, "message": "execution reverted: 45"})
    assert isinstance(bare, LostRaceError)
    nested = node_error({"code": 3, "message": "execution reverted", "data": {"data": _err("45")}})
    assert isinstance(nested, LostRaceError)


def test_reverted_from_trace_output() -> None:
    assert isinstance(reverted(_err("45")), LostRaceError)
    assert type(reverted(bytes.fromhex(_err("35")[2:]))) is ExecutionRevertedError


@given(st.binary(max_size=200))
def test_decode_revert_never_crashes(data: bytes) -> None:
    r = decode_revert(data)
    assert r.kind in ("error", "panic", "custom", "empty")
    assert r.data == data


@given(st.text(max_size=60))
def test_error_string_roundtrip(text: str) -> None:
    r = decode_revert(_err(text))
    assert r.kind == "error" and r.reason == text
