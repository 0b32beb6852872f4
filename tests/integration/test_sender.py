"""The transaction lifecycle on the devnet: real signed transactions from anvil's public dev keys.

Most payloads are an ERC-20 `mint` (it emits a Transfer to the signer, so realized profit is checkable);
one is a real Aave liquidationCall after a 20% WETH shock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eth_account import Account
from eth_utils import keccak

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient, RpcError
from liqbot.chain.errors import (
    AlreadyKnownError,
    BadGasLimitError,
    FeeCapTooLowError,
    InsufficientFundsError,
    InvalidTransactionError,
    LostRaceError,
    NodeError,
    NonceTooLowError,
    ReplacementUnderpricedError,
    rpc,
)
from liqbot.chain.signer import SignerLanes
from liqbot.execution.relay import Route, Sent
from liqbot.execution.sender import FeeBudgetError, LiquidationTx, SendPolicy, SendResult, TxSender
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ANVIL_ACCOUNTS, ANVIL_KEYS, LIQUIDATOR, WHALE, DevnetRpc
from liqbot.pricing.gas import FeeBid
from liqbot.store import AttemptStatus, Store, open_store

from .helpers import WAD, balance, book, fund, positions

pytestmark = pytest.mark.devnet
S = AttemptStatus
T = TypeVar("T")
CHAIN_ID = 31337
GWEI = 10**9
# anvil's public test mnemonic: every key below is one of its dev keys (index i), never a real secret.
MNEMONIC = "test test test test test test test test test test test junk"
_blocks = itertools.count(1)


def dev_key(i: int) -> str:
    Account.enable_unaudited_hdwallet_features()
    key = "0x" + bytes(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key).hex()
    assert i >= len(ANVIL_KEYS) or key == ANVIL_KEYS[i]
    return key


def new_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'attempts.db'}")


def new_attempt(store: Store, borrower: str = ANVIL_ACCOUNTS[9]) -> int:
    zero = "0x" + "00" * 20
    return store.record_detected(
        chain_id=CHAIN_ID, protocol="aave_v3", market="0x" + "aa" * 20, borrower=borrower, mode="funds",
        collateral_asset=zero, debt_asset=zero, debt_to_cover=1, expected_seized=1,
        expected_profit_usd=Decimal(10), detected_block=next(_blocks),
    )  # fmt: skip


def mint_tx(token: str, amount: int, **over: Any) -> LiquidationTx:
    fields: dict[str, Any] = {
        "to": token, "data": fn("MintableERC20", "mint", 1).encode(amount), "gas_limit": 150_000,
        "gas_budget_wei": 10**16, "priority_cap_wei": 2 * GWEI, "profit_tokens": (token,),
    }  # fmt: skip
    return LiquidationTx(**(fields | over))


def policy(**over: Any) -> SendPolicy:
    return SendPolicy(**({"confirmations": 1, "poll_interval_s": 0.05} | over))


@contextlib.asynccontextmanager
async def mining(url: str, every: float = 0.1, base_fee: int | None = None) -> AsyncIterator[None]:
    """Mine a block every `every` seconds (holding the base fee at `base_fee` if given)."""
    client = ChainClient(url, CHAIN_ID)

    async def loop() -> None:
        while True:
            if base_fee is not None:
                await client.request("anvil_setNextBlockBaseFeePerGas", hex(base_fee))
            await client.request("evm_mine")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (value := await check()) is not None:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


@contextlib.contextmanager
def automine_off(chain: DevnetRpc) -> Any:
    chain.call("evm_setAutomine", False)
    try:
        yield
    finally:
        chain.call("evm_setAutomine", True)


def usdc(devnet: manager.Devnet) -> str:
    return str(devnet.addresses()["tokens"]["USDC"]["address"])


# ---- the happy path -------------------------------------------------------------------------------------


def test_included_with_receipt_facts_and_realized_profit(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    token, lane_key, amount = usdc(devnet), dev_key(6), 1_234_567
    me = ANVIL_ACCOUNTS[6]
    store = new_store(tmp_path)
    aid = new_attempt(store)
    before = balance(chain, token, me)

    async def go() -> tuple[SendResult, dict[str, Any]]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([lane_key]), policy=policy(),
                          pricer=lambda r: Decimal(r[token]) / 10**6)  # fmt: skip
        async with mining(chain.url):
            res = await sender.send_liquidation(aid, mint_tx(token, amount))
        tx = await client.request("eth_getTransactionByHash", res.attempt.tx_hash)
        await client.close()
        return res, tx

    res, tx = asyncio.run(go())
    row, receipt = res.attempt, res.receipt
    assert res.status is S.INCLUDED and receipt is not None
    assert row.sender == me.lower() and row.tx_hash == receipt["transactionHash"]
    assert row.nonce == int(tx["nonce"], 16)
    assert row.included_block == int(receipt["blockNumber"], 16)
    assert row.gas_used == int(receipt["gasUsed"], 16)
    assert row.effective_gas_price == int(receipt["effectiveGasPrice"], 16)
    assert row.gas_used * row.effective_gas_price <= 10**16  # inside the budget
    assert row.simulated_at and row.submitted_at and row.included_at
    assert res.realized == {token: amount} == {token: balance(chain, token, me) - before}
    assert row.realized_profit_usd == Decimal(amount) / 10**6


def test_row_holds_hash_and_nonce_before_the_broadcast(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)
    seen: list[tuple[Any, ...]] = []

    class Watching(Route):
        async def send(self, raw: bytes, *, public: bool = False) -> Sent:
            row = store.get(aid)
            seen.append((row.status, row.tx_hash, row.nonce, row.sender, "0x" + keccak(raw).hex()))
            return await super().send(raw, public=public)

    async def go() -> SendResult:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy(confirmations=0),
                          route=Watching(client))  # fmt: skip
        res = await sender.send_liquidation(aid, mint_tx(usdc(devnet), 5))
        await client.close()
        return res

    res = asyncio.run(go())
    status, tx_hash, nonce, sender, raw_hash = seen[0]
    assert (status, tx_hash, sender) == (S.SUBMITTED, raw_hash, ANVIL_ACCOUNTS[6].lower())
    assert nonce == res.attempt.nonce and res.status is S.INCLUDED and res.attempt.tx_hash == raw_hash


# ---- never sent ------------------------------------------------------------------------------------------


def test_failed_simulation_is_never_sent(devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)
    token = usdc(devnet)
    transfer = fn("MintableERC20", "transfer").encode(ANVIL_ACCOUNTS[1], 10**30)  # far more than it holds

    async def go() -> tuple[SendResult, int]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(7)]), policy=policy())
        res = await sender.send_liquidation(aid, mint_tx(token, 0, data=transfer))
        await client.close()
        return res, client.calls["eth_sendRawTransaction"]

    res, sends = asyncio.run(go())
    assert res.status is S.SKIPPED and sends == 0
    assert res.attempt.reason is not None and res.attempt.reason.startswith("simulation_failed: ")
    assert "exceeds balance" in res.attempt.reason and res.attempt.tx_hash is None


def test_gas_over_budget_is_never_signed(devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)

    async def go() -> tuple[SendResult, int, int]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(7)]), policy=policy())
        # The budget pays half the base fee for the gas limit: the bid cannot fit.
        tx = mint_tx(usdc(devnet), 5, next_base_fee=10 * GWEI, gas_budget_wei=150_000 * 5 * GWEI)
        res = await sender.send_liquidation(aid, tx)
        await client.close()
        return res, client.calls["eth_sendRawTransaction"], sender.nonces.busy(ANVIL_ACCOUNTS[7])

    res, sends, busy = asyncio.run(go())
    assert res.status is S.SKIPPED and sends == 0 and busy == 0
    assert res.attempt.simulated_at is not None and "gas budget" in (res.attempt.reason or "")


# ---- the node says no ------------------------------------------------------------------------------------


def test_insufficient_funds_records_failed_then_stops(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)
    poor = ANVIL_ACCOUNTS[8]
    chain.call("anvil_setBalance", poor, "0x0")

    async def go() -> tuple[TxSender, BaseException | None]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(8)]), policy=policy())
        try:
            await sender.send_liquidation(aid, mint_tx(usdc(devnet), 5))
        except InsufficientFundsError as exc:
            return sender, exc
        finally:
            await client.close()
        return sender, None

    sender, exc = asyncio.run(go())
    assert exc is not None  # a StopError: a person must fund the signer
    row = store.get(aid)
    assert row.status is S.FAILED and row.tx_hash is None and row.nonce is None  # nothing was broadcast
    assert "insufficient funds" in (row.reason or "").lower()
    book_ = sender.nonces.book(poor)
    assert book_.busy == 0 and book_.next == int(chain.call("eth_getTransactionCount", poor, "pending"), 16)


def test_nonce_too_low_resyncs_the_lane(devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path) -> None:
    store = new_store(tmp_path)
    me = ANVIL_ACCOUNTS[7]
    first, second, third = new_attempt(store), new_attempt(store), new_attempt(store)
    token = usdc(devnet)

    async def go() -> list[SendResult]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(7)]), policy=policy(confirmations=0))
        out = [await sender.send_liquidation(first, mint_tx(token, 1))]
        # Another process with the same key uses the next nonce behind our back.
        await client.request("eth_sendTransaction", {"from": me, "to": me, "value": "0x0"})
        await until(lambda: _count(client, me, 2 + int(out[0].attempt.nonce or 0)))
        out.append(await sender.send_liquidation(second, mint_tx(token, 2)))
        out.append(await sender.send_liquidation(third, mint_tx(token, 3)))
        await client.close()
        return out

    a, b, c = asyncio.run(go())
    assert a.status is S.INCLUDED
    assert b.status is S.FAILED and "nonce too low" in (b.attempt.reason or "") and "resynced" in (
        b.attempt.reason or "")  # fmt: skip
    assert b.attempt.tx_hash is None
    assert c.status is S.INCLUDED and c.attempt.nonce == (a.attempt.nonce or 0) + 2


async def _count(client: ChainClient, who: str, want: int) -> bool | None:
    return True if int(await client.request("eth_getTransactionCount", who, "latest"), 16) >= want else None


def test_error_table_on_live_anvil(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    """Trigger each refusal on anvil and check the table types what it really says."""
    a = devnet.addresses()
    key, me = dev_key(9), ANVIL_ACCOUNTS[9]
    pool = chain.contract("Pool", a["aave"]["pool"])
    healthy = next(p for p in positions(devnet, "aave_v3") if p.health_factor > WAD)
    seeded = book(devnet)[healthy.borrower]
    coll, debt = (a["tokens"][next(iter(seeded[k]))]["address"] for k in ("collateral", "debt"))
    liq = pool.encode_abi("liquidationCall", args=[coll, debt, healthy.borrower, 1, False])

    async def go() -> dict[str, NodeError]:
        client = ChainClient(chain.url, CHAIN_ID)
        base = int((await client.block())["baseFeePerGas"], 16)
        nonce = int(await client.request("eth_getTransactionCount", me, "pending"), 16)
        acct = Account.from_key(key)

        def raw(**over: Any) -> str:
            tx = {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "to": me, "value": 0, "gas": 21_000,
                  "maxFeePerGas": 2 * base + GWEI, "maxPriorityFeePerGas": GWEI, "data": b""}  # fmt: skip
            tx |= over
            return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()

        async def refusal(method: str, *params: Any) -> NodeError:
            try:
                await rpc(client, method, *params)
            except NodeError as exc:
                return exc
            raise AssertionError(f"{method} was accepted")

        got = {
            "intrinsic": await refusal("eth_sendRawTransaction", raw(gas=20_000)),
            "over block gas": await refusal("eth_sendRawTransaction", raw(gas=40_000_000)),
            "fee cap": await refusal("eth_sendRawTransaction", raw(maxFeePerGas=1, maxPriorityFeePerGas=1)),
            "tip above cap": await refusal(
                "eth_sendRawTransaction", raw(maxFeePerGas=GWEI, maxPriorityFeePerGas=2 * GWEI)
            ),
            "chain id": await refusal("eth_sendRawTransaction", raw(chainId=1)),
            "funds": await refusal("eth_sendRawTransaction", raw(value=10**30)),
            "45": await refusal("eth_call", {"from": LIQUIDATOR, "to": pool.address, "data": liq}),
        }  # fmt: skip
        await client.request("evm_setAutomine", False)
        try:
            await rpc(client, "eth_sendRawTransaction", raw())
            got["known"] = await refusal("eth_sendRawTransaction", raw())
            got["underpriced"] = await refusal("eth_sendRawTransaction", raw(value=1))
        finally:
            await client.request("evm_setAutomine", True)
            await client.request("evm_mine")
        await rpc(client, "eth_sendRawTransaction", raw(nonce=nonce + 1))
        await until(lambda: _count(client, me, nonce + 2))
        got["too low"] = await refusal("eth_sendRawTransaction", raw(value=2))
        await client.close()
        return got

    got = asyncio.run(go())
    expected = {"intrinsic": BadGasLimitError, "over block gas": BadGasLimitError,
                "fee cap": FeeCapTooLowError, "tip above cap": InvalidTransactionError,
                "chain id": InvalidTransactionError,
                "funds": InsufficientFundsError, "45": LostRaceError, "known": AlreadyKnownError,
                "underpriced": ReplacementUnderpricedError, "too low": NonceTooLowError}  # fmt: skip
    assert {k: type(v) for k, v in got.items()} == expected
    race = got["45"]
    assert isinstance(race, LostRaceError) and race.reason == "45"


# ---- Aave: a real liquidation, then the same one again ---------------------------------------------------


def _aave_target(devnet: manager.Devnet) -> tuple[str, str, str]:
    """A WETH-collateral, single-debt position under 1 that one liquidation with debtToCover = max ends:
    from 0.95 the 50% close factor lifts it over 1 (HF' = 2·HF − 1.05·LT, LT 82.5%); below 0.95 the whole
    debt is repaid, which needs collateral ≥ 1.05 × debt, i.e. HF ≥ 0.87. Either way a second call gets
    '45'."""
    a, seeded = devnet.addresses(), book(devnet)
    for p in positions(devnet, "aave_v3"):
        b = seeded[p.borrower]
        if (
            list(b["collateral"]) == ["WETH"]
            and len(b["debt"]) == 1
            and 87 * WAD // 100 <= p.health_factor < WAD
        ):
            debt = next(iter(b["debt"]))
            return p.borrower, a["tokens"]["WETH"]["address"], a["tokens"][debt]["address"]
    raise AssertionError("the shock left no single-asset WETH position between 0.87 and 1")


def _liquidation(devnet: manager.Devnet, chain: DevnetRpc, who: str) -> tuple[LiquidationTx, str, str]:
    borrower, weth, debt = _aave_target(devnet)
    pool = chain.contract("Pool", devnet.addresses()["aave"]["pool"])
    fund(chain, debt, pool.address, 10**30, who=who)
    data = bytes.fromhex(
        pool.encode_abi("liquidationCall", args=[weth, debt, borrower, 2**256 - 1, False])[2:]
    )
    gas = int(chain.call("eth_estimateGas", {"from": who, "to": pool.address, "data": "0x" + data.hex()}), 16)
    tx = LiquidationTx(to=pool.address, data=data, gas_limit=gas * 3 // 2, gas_budget_wei=10**17,
                       priority_cap_wei=2 * GWEI, profit_tokens=(weth, debt))  # fmt: skip
    return tx, weth, debt


def test_aave_liquidation_included_then_the_same_one_loses_the_race(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    manager.do_shock(devnet, "WETH", -20)
    store = new_store(tmp_path)
    first, second = new_attempt(store), new_attempt(store)
    tx, weth, debt = _liquidation(devnet, chain, LIQUIDATOR)
    before = (balance(chain, weth, LIQUIDATOR), balance(chain, debt, LIQUIDATOR))

    async def go() -> tuple[SendResult, SendResult, int]:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(5)]), policy=policy())
        async with mining(chain.url):
            one = await sender.send_liquidation(first, tx)
            two = await sender.send_liquidation(second, tx)
        await client.close()
        return one, two, client.calls["eth_sendRawTransaction"]

    one, two, sends = asyncio.run(go())
    assert one.status is S.INCLUDED and one.attempt.sender == LIQUIDATOR.lower()
    seized, repaid = (
        balance(chain, weth, LIQUIDATOR) - before[0],
        before[1] - balance(chain, debt, LIQUIDATOR),
    )
    assert seized > 0 and repaid > 0
    assert one.realized == {weth: seized, debt: -repaid}  # from the receipt's Transfer logs
    assert two.status is S.LOST_RACE and sends == 1  # caught by the simulation: never sent
    assert "HEALTH_FACTOR_NOT_BELOW_THRESHOLD" in (two.attempt.reason or "") and two.attempt.tx_hash is None


class NoDebug(ChainClient):
    """A node without the debug namespace (most hosted RPCs): the revert is found by replaying the call."""

    async def request(self, method: str, *params: Any) -> Any:
        if method.startswith("debug_"):
            raise RpcError(method, {"code": -32601, "message": f"the method {method} does not exist"})
        return await super().request(method, *params)


@pytest.mark.parametrize("client_cls", [ChainClient, NoDebug], ids=["trace", "replay"])
def test_race_lost_on_chain_is_decoded_from_the_mined_revert(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path, client_cls: type[ChainClient]
) -> None:
    """Our liquidation is in the pool; a competitor's identical call with a higher tip lands first in the
    same block; ours is mined and reverts with '45'."""
    manager.do_shock(devnet, "WETH", -20)
    pool = devnet.addresses()["aave"]["pool"]
    store = new_store(tmp_path)
    aid = new_attempt(store)
    tx, _, debt = _liquidation(devnet, chain, LIQUIDATOR)
    fund(chain, debt, pool, 10**30, who=WHALE)

    async def go() -> SendResult:
        client = client_cls(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(5)]), policy=policy())
        with automine_off(chain):
            task = asyncio.create_task(sender.send_liquidation(aid, tx))
            ours = await until(lambda: _in_pool(client, store, aid))
            await client.request("eth_sendTransaction", {
                "from": WHALE, "to": tx.to, "data": "0x" + tx.data.hex(), "gas": hex(tx.gas_limit),
                "maxFeePerGas": hex(int(ours["maxFeePerGas"], 16) * 10),
                "maxPriorityFeePerGas": hex(int(ours["maxFeePerGas"], 16) * 5)})  # fmt: skip
            async with mining(chain.url):
                res = await task
        await client.close()
        return res

    res = asyncio.run(go())
    assert res.status is S.LOST_RACE and res.receipt is not None and res.receipt["status"] == "0x0"
    assert res.attempt.reason == "reverted on chain: aave: HEALTH_FACTOR_NOT_BELOW_THRESHOLD (45)"
    assert res.attempt.gas_used == int(res.receipt["gasUsed"], 16) and res.attempt.included_block is not None


def test_plain_revert_on_chain_is_recorded_reverted(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    token, victim, me = usdc(devnet), WHALE, ANVIL_ACCOUNTS[6]
    t = chain.contract("MintableERC20", token)
    chain.transact(t.functions.mint(10**9), sender=victim)
    chain.transact(t.functions.approve(me, 10**9), sender=victim)
    store = new_store(tmp_path)
    aid = new_attempt(store)
    pull = fn("MintableERC20", "transferFrom").encode(victim, me, 10**9)

    async def go() -> SendResult:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy())
        with automine_off(chain):
            task = asyncio.create_task(sender.send_liquidation(aid, mint_tx(token, 0, data=pull)))
            await until(lambda: _in_pool(client, store, aid))
            revoke = "0x" + fn("MintableERC20", "approve").encode(me, 0).hex()
            fees = {"maxFeePerGas": hex(100 * GWEI), "maxPriorityFeePerGas": hex(50 * GWEI)}
            await client.request("eth_sendTransaction", {"from": victim, "to": token, "data": revoke, **fees})
            async with mining(chain.url):
                res = await task
        await client.close()
        return res

    res = asyncio.run(go())
    assert res.status is S.REVERTED and "allowance" in (res.attempt.reason or "")
    assert res.attempt.tx_hash is not None and res.attempt.gas_used is not None


async def _in_pool(client: ChainClient, store: Store, aid: int) -> dict[str, Any] | None:
    row = store.get(aid)
    if row.status is not S.SUBMITTED or row.tx_hash is None:
        return None
    tx: dict[str, Any] | None = await client.request("eth_getTransactionByHash", row.tx_hash)
    return tx


# ---- stuck transactions: lanes, replacement, cancel ------------------------------------------------------


def _stuck_pair(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path, stuck_budget_gwei: int
) -> tuple[SendResult, SendResult]:
    """Lane A bids low (its next-base-fee hint is 1 gwei) and sticks once the base fee is held at 4 gwei;
    lane B bids high and goes through. A's stuck policy then replaces it, or cancels it when the bump no
    longer fits A's budget."""
    token, store = usdc(devnet), new_store(tmp_path)
    low, high = new_attempt(store), new_attempt(store)
    stuck = mint_tx(token, 7, next_base_fee=GWEI, priority_cap_wei=GWEI // 4, gas_limit=100_000,
                    gas_budget_wei=100_000 * stuck_budget_gwei * GWEI)  # fmt: skip
    quick = mint_tx(token, 8, next_base_fee=2 * GWEI, gas_limit=100_000, gas_budget_wei=100_000 * 50 * GWEI)

    # Start from a 1 gwei base fee, and put the old one back after: anvil keeps the next block's base fee
    # across evm_revert, so a fee forced here would leak into later tests.
    before = int(chain.call("eth_feeHistory", "0x1", "latest", [])["baseFeePerGas"][-1], 16)
    chain.call("anvil_setNextBlockBaseFeePerGas", hex(GWEI))
    chain.mine()

    async def go() -> tuple[SendResult, SendResult]:
        client = ChainClient(chain.url, CHAIN_ID)
        lanes = SignerLanes.from_keys([dev_key(6), dev_key(7)])
        sender = TxSender(client, store, lanes, policy=policy(stuck_after_blocks=2))
        with automine_off(chain):
            a = asyncio.create_task(sender.send_liquidation(low, stuck))
            await until(lambda: _in_pool(client, store, low))
            b = asyncio.create_task(sender.send_liquidation(high, quick))
            await until(lambda: _in_pool(client, store, high))
            async with mining(chain.url, every=0.15, base_fee=4 * GWEI):
                quick_done = await b
                assert not a.done(), "the low bid should still be stuck when the other lane is done"
                stuck_done = await a
        await client.close()
        return stuck_done, quick_done

    try:
        return asyncio.run(go())
    finally:
        chain.call("anvil_setNextBlockBaseFeePerGas", hex(before))
        chain.mine()


def test_stuck_lane_does_not_block_the_other_and_is_replaced(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    stuck, quick = _stuck_pair(devnet, chain, tmp_path, stuck_budget_gwei=20)
    assert quick.status is S.INCLUDED and stuck.status is S.INCLUDED
    assert stuck.attempt.sender != quick.attempt.sender  # least-busy lane picked
    assert len(stuck.candidates) >= 2 and stuck.attempt.tx_hash == stuck.candidates[-1]  # the replacement
    assert stuck.attempt.tx_hash != stuck.candidates[0]
    assert stuck.attempt.effective_gas_price is not None and stuck.attempt.effective_gas_price >= 4 * GWEI
    assert stuck.attempt.gas_used is not None
    assert stuck.attempt.gas_used * stuck.attempt.effective_gas_price <= 100_000 * 20 * GWEI


def test_stuck_beyond_budget_is_cancelled(devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path) -> None:
    stuck, quick = _stuck_pair(devnet, chain, tmp_path, stuck_budget_gwei=3)
    assert quick.status is S.INCLUDED
    assert stuck.status is S.FAILED and (stuck.attempt.reason or "").startswith("cancelled: ")
    cancel = stuck.candidates[-1]
    assert cancel in (stuck.attempt.reason or "") and stuck.receipt is not None
    assert stuck.receipt["transactionHash"] == cancel
    assert stuck.receipt["to"].lower() == stuck.receipt["from"].lower()  # 0-value self-transfer
    assert stuck.attempt.tx_hash == stuck.candidates[0]  # the row keeps the liquidation's own hash


def test_dev_keys_are_anvils() -> None:
    assert [Account.from_key(dev_key(i)).address for i in range(10)] == list(ANVIL_ACCOUNTS)


def test_budget_assert_holds_even_if_the_bid_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last check before signing does not trust fee_bid: a bid over budget is refused."""
    over = FeeBid(max_fee_per_gas=10**12, max_priority_fee_per_gas=10**9, expected_cost_wei=0)
    monkeypatch.setattr("liqbot.execution.sender.fee_bid", lambda *_: over)
    sender = TxSender(ChainClient("http://127.0.0.1:9", CHAIN_ID), new_store(tmp_path),
                      SignerLanes.from_keys([ANVIL_KEYS[1]]))  # fmt: skip
    tx = mint_tx(
        "0x" + "11" * 20, 1, next_base_fee=GWEI, gas_limit=100_000, gas_budget_wei=100_000 * 50 * GWEI
    )
    with pytest.raises(FeeBudgetError, match="max fee × gas limit"):
        asyncio.run(sender._bid(tx))


def test_a_failing_pricer_does_not_lose_the_inclusion(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)

    def broken(_: Any) -> Decimal:
        raise KeyError("no price for this token")

    async def go() -> SendResult:
        client = ChainClient(chain.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy(confirmations=0),
                          pricer=broken)  # fmt: skip
        res = await sender.send_liquidation(aid, mint_tx(usdc(devnet), 3))
        await client.close()
        return res

    res = asyncio.run(go())
    assert res.status is S.INCLUDED and res.attempt.realized_profit_usd is None and res.realized
