"""A thin typed wrapper around liqbot's executor contract (`contracts/executor/LiqExecutor.sol`).

It encodes calldata for each way of funding a liquidation (Aave flash loan, Morpho flash loan, Morpho's
liquidate callback, inventory), reads the contract's state, sends to it and deploys it; the committed
artifact and the decoding of its custom errors live in `executor_abi` (re-exported here). Sending goes
through a `TxSender`: anvil's unlocked accounts on the devnet, a local key (from the environment, never an
argument) elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol, cast

from eth_abi import decode
from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception
from web3.types import TxParams, TxReceipt

from liqbot.contracts import abi as shipped_abi
from liqbot.execution.executor_abi import (
    ZERO_ADDRESS,
    ExecutorError,
    as_executor_error,
    codec,
    decode_error,
    executor_abi,
    load_artifact,
)

__all__ = [
    "MAX_UINT", "NO_DEADLINE", "ZERO_ADDRESS", "AaveTarget", "ExecutorContract", "ExecutorError",
    "ExecutorStatus", "Funding", "KeySender", "MorphoMarket", "MorphoTarget", "RouterKind", "Source",
    "SwapLeg", "Target", "TxSender", "UnlockedSender", "aave_flash", "aave_flash_premium", "decode_error",
    "deploy_executor", "encode_liquidation", "executor_abi", "funds", "load_artifact", "morpho_callback",
    "morpho_flash", "send",
]  # fmt: skip

MAX_UINT = 2**256 - 1
NO_DEADLINE = MAX_UINT


class Source(IntEnum):
    """Where the repayment comes from (the contract's `Source` enum)."""

    FUNDS = 0
    AAVE_FLASH = 1
    MORPHO_FLASH = 2
    MORPHO_CALLBACK = 3


class RouterKind(IntEnum):
    SWAP_ROUTER = 0  # Uniswap V3 SwapRouter: exactInputSingle params carry a deadline
    SWAP_ROUTER_02 = 1  # SwapRouter02: no deadline in the params (the contract checks it itself)


# --------------------------------------------------------------------------------------------------
# Call arguments
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AaveTarget:
    pool: str
    collateral: str
    debt: str
    user: str
    debt_to_cover: int = MAX_UINT  # MAX_UINT: the pool applies its close factor

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.pool, self.collateral, self.debt, self.user, self.debt_to_cover)


@dataclass(frozen=True)
class MorphoMarket:
    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv)


@dataclass(frozen=True)
class MorphoTarget:
    morpho: str
    market: MorphoMarket
    borrower: str
    max_repay: int  # loan assets; the exact allowance Morpho gets, and a cap on what it may take
    seized_assets: int = 0  # exactly one of seized_assets / repaid_shares is non-zero
    repaid_shares: int = 0

    def __post_init__(self) -> None:
        if (self.seized_assets == 0) == (self.repaid_shares == 0):
            raise ValueError("give exactly one of seized_assets and repaid_shares (Morpho's rule)")
        if self.max_repay <= 0:
            raise ValueError("max_repay must be positive")

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.morpho, self.market.as_tuple(), self.borrower, self.seized_assets,
                self.repaid_shares, self.max_repay)  # fmt: skip


@dataclass(frozen=True)
class SwapLeg:
    """Sell everything seized on one Uniswap V3 pool."""

    router: str
    fee: int  # pool fee tier, e.g. 500
    min_amount_out: int = 0
    deadline: int = NO_DEADLINE
    kind: RouterKind = RouterKind.SWAP_ROUTER

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.router, int(self.kind), self.fee, self.min_amount_out, self.deadline)


@dataclass(frozen=True)
class Funding:
    source: Source
    lender: str = ZERO_ADDRESS
    amount: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (int(self.source), self.lender, self.amount)


Target = AaveTarget | MorphoTarget


def encode_liquidation(
    target: Target, funding: Funding, swap: SwapLeg, min_profit: int, profit_to_treasury: bool = False
) -> bytes:
    """Calldata for `liquidateAave` or `liquidateMorpho`."""
    if funding.source is Source.MORPHO_CALLBACK and not isinstance(target, MorphoTarget):
        raise ValueError("Morpho's liquidate callback only funds Morpho liquidations")
    fn = "liquidateAave" if isinstance(target, AaveTarget) else "liquidateMorpho"
    args = [target.as_tuple(), funding.as_tuple(), swap.as_tuple(), min_profit, profit_to_treasury]
    return bytes(HexBytes(codec().encode_abi(fn, args=args)))


def aave_flash(target: Target, pool: str, amount: int, swap: SwapLeg, min_profit: int,
               profit_to_treasury: bool = False) -> bytes:  # fmt: skip
    """Borrow `amount` of the debt asset with Aave's flashLoanSimple from `pool` (premium applies)."""
    return encode_liquidation(target, Funding(Source.AAVE_FLASH, pool, amount), swap, min_profit,
                              profit_to_treasury)  # fmt: skip


def morpho_flash(target: Target, morpho: str, amount: int, swap: SwapLeg, min_profit: int,
                 profit_to_treasury: bool = False) -> bytes:  # fmt: skip
    """Borrow `amount` of the debt asset with Morpho Blue's flashLoan (no fee)."""
    return encode_liquidation(target, Funding(Source.MORPHO_FLASH, morpho, amount), swap, min_profit,
                              profit_to_treasury)  # fmt: skip


def morpho_callback(target: MorphoTarget, swap: SwapLeg, min_profit: int,
                    profit_to_treasury: bool = False) -> bytes:  # fmt: skip
    """No loan: swap the seized collateral inside Morpho's liquidate callback; Morpho pulls the repayment."""
    return encode_liquidation(target, Funding(Source.MORPHO_CALLBACK), swap, min_profit, profit_to_treasury)


def funds(target: Target, swap: SwapLeg, min_profit: int, profit_to_treasury: bool = False) -> bytes:
    """Repay from the contract's own inventory of the debt asset."""
    return encode_liquidation(target, Funding(Source.FUNDS), swap, min_profit, profit_to_treasury)


def aave_flash_premium(w3: Web3, pool: str, amount: int) -> int:
    """The premium flashLoanSimple will charge: amount x FLASHLOAN_PREMIUM_TOTAL, Aave's percentMul."""
    c = w3.eth.contract(address=to_checksum_address(pool), abi=shipped_abi("Pool"))
    bps = int(c.functions.FLASHLOAN_PREMIUM_TOTAL().call())
    return (amount * bps + 5_000) // 10_000


# --------------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------------


class TxSender(Protocol):
    """Signs and sends one transaction, waits for its receipt. Never exposes a key."""

    @property
    def address(self) -> str: ...

    def send(self, w3: Web3, tx: TxParams) -> TxReceipt: ...


class UnlockedSender:
    """A devnet account that anvil signs for (unlocked or impersonated)."""

    def __init__(self, address: str) -> None:
        self._address = to_checksum_address(address)

    @property
    def address(self) -> str:
        return self._address

    def send(self, w3: Web3, tx: TxParams) -> TxReceipt:
        tx_hash = w3.eth.send_transaction({**tx, "from": self._address})
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)


class KeySender:
    """Signs locally with a private key (from LIQBOT_SIGNER_KEY). The key is never printed or logged."""

    def __init__(self, private_key: str) -> None:
        self._account = Account.from_key(private_key)

    def __repr__(self) -> str:
        return f"KeySender({self._account.address})"

    @property
    def address(self) -> str:
        return str(self._account.address)

    def send(self, w3: Web3, tx: TxParams) -> TxReceipt:
        full: dict[str, Any] = {**tx, "from": self.address, "chainId": w3.eth.chain_id}
        full["nonce"] = w3.eth.get_transaction_count(self._account.address, "pending")
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tip = int(w3.eth.max_priority_fee)
        full.setdefault("maxPriorityFeePerGas", tip)
        full.setdefault("maxFeePerGas", 2 * base + tip)
        signed = self._account.sign_transaction(full)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)


def send(w3: Web3, sender: TxSender, to: str | None, data: bytes, gas: int | None = None) -> TxReceipt:
    """Estimate (a revert here becomes an ExecutorError with its reason), send, and check the receipt."""
    tx: TxParams = {"from": to_checksum_address(sender.address), "data": HexBytes(data)}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    if gas is None:
        try:
            gas = int(w3.eth.estimate_gas(tx) * 5 // 4)
        except (Web3Exception, ValueError) as exc:
            raise as_executor_error(exc) from None
    tx["gas"] = gas
    receipt = sender.send(w3, tx)
    if receipt["status"] != 1:
        raise _replayed(w3, tx, receipt)
    return receipt


def _replayed(w3: Web3, tx: TxParams, receipt: TxReceipt) -> ExecutorError:
    """Why a mined transaction reverted: replay it on its parent block (exact when it was alone in it)."""
    where = f"transaction 0x{receipt['transactionHash'].hex().removeprefix('0x')} reverted on chain"
    try:
        w3.eth.call(tx, receipt["blockNumber"] - 1)
    except (Web3Exception, ValueError) as exc:
        err = as_executor_error(exc)
        return ExecutorError(f"{where}: {err.reason}", err.error, err.error_args)
    return ExecutorError(f"{where} (its replay succeeds: the state moved in between)")


# --------------------------------------------------------------------------------------------------
# The deployed contract
# --------------------------------------------------------------------------------------------------


class HasWeb3(Protocol):
    w3: Web3


def _web3(rpc: Web3 | HasWeb3) -> Web3:
    return rpc if isinstance(rpc, Web3) else rpc.w3


@dataclass(frozen=True)
class ExecutorStatus:
    address: str
    owner: str
    pending_owner: str
    treasury: str
    paused: bool
    profit_to_treasury_by_default: bool
    executors: tuple[str, ...]
    routers: tuple[str, ...]
    balances: dict[str, int]  # token address -> raw balance


class ExecutorContract:
    def __init__(self, rpc: Web3 | HasWeb3, address: str) -> None:
        self.w3 = _web3(rpc)
        self.address = to_checksum_address(address)
        self.contract = self.w3.eth.contract(address=self.address, abi=executor_abi())

    def status(self, tokens: Sequence[str] = ()) -> ExecutorStatus:
        f = self.contract.functions
        balances: dict[str, int] = {
            str(to_checksum_address(t)): int(self.erc20(t).functions.balanceOf(self.address).call())
            for t in tokens
        }
        return ExecutorStatus(
            self.address, f.owner().call(), f.pendingOwner().call(), f.treasury().call(), f.paused().call(),
            f.profitToTreasuryByDefault().call(), tuple(f.executors().call()), tuple(f.routers().call()),
            balances,
        )  # fmt: skip

    def erc20(self, token: str) -> Contract:
        return self.w3.eth.contract(address=to_checksum_address(token), abi=shipped_abi("MintableERC20"))

    def simulate(self, sender: str, data: bytes) -> int:
        """eth_call a liquidation; return the profit it would make, or raise ExecutorError with the reason."""
        try:
            raw = self.w3.eth.call({"from": to_checksum_address(sender), "to": self.address, "data": data})
        except (Web3Exception, ValueError) as exc:
            raise as_executor_error(exc) from None
        (profit,) = decode(["uint256"], bytes(raw))
        return int(profit)

    def execute(self, sender: TxSender, data: bytes, gas: int | None = None) -> TxReceipt:
        return send(self.w3, sender, self.address, data, gas)

    def withdraw(self, sender: TxSender, token: str, amount: int, to: str) -> TxReceipt:
        data = self.contract.encode_abi("withdraw", args=[to_checksum_address(token), amount, to])
        return self.execute(sender, bytes(HexBytes(data)))

    def admin(self, sender: TxSender, fn: str, *args: Any) -> TxReceipt:
        """Owner calls: setExecutor, setRouter, setTreasury, setPaused, setProfitToTreasuryByDefault, ..."""
        return self.execute(sender, bytes(HexBytes(self.contract.encode_abi(fn, args=list(args)))))

    def liquidations(self, receipt: TxReceipt) -> list[dict[str, Any]]:
        """The Liquidated events in a receipt, as plain dicts."""
        event = self.contract.events.Liquidated()
        out = []
        for log in receipt["logs"]:
            if log["address"] == self.address and log["topics"][0] == HexBytes(event.topic):
                out.append(dict(event.process_log(log)["args"]))
        return out


def deploy_executor(
    rpc: Web3 | HasWeb3,
    owner: str,
    treasury: str,
    routers: Sequence[str],
    executors: Sequence[str],
    *,
    sender: TxSender | None = None,
) -> str:
    """Deploy LiqExecutor from `sender` (default: `owner`, unlocked on the devnet); return its address."""
    w3 = _web3(rpc)
    art = load_artifact()
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    args = [
        to_checksum_address(owner),
        to_checksum_address(treasury),
        [to_checksum_address(r) for r in routers],
        [to_checksum_address(e) for e in executors],
    ]
    data = factory.constructor(*args).data_in_transaction
    receipt = send(w3, sender or UnlockedSender(owner), None, bytes(HexBytes(data)))
    address = receipt.get("contractAddress")
    if not address:
        raise ExecutorError("deployment produced no contract address")
    return to_checksum_address(cast(str, address))
