"""The executor contract on the devnet: every funding mode liquidates at a profit, and every guard holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import to_checksum_address
from typer.testing import CliRunner
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception
from web3.types import TxReceipt

from liqbot.cli import executor_cmd
from liqbot.contracts import abi as shipped_abi
from liqbot.execution import executor_contract as ec
from liqbot.execution.executor_abi import as_executor_error, codec
from liqbot.execution.executor_contract import (
    AaveTarget,
    ExecutorContract,
    ExecutorError,
    MorphoMarket,
    MorphoTarget,
    RouterKind,
    SwapLeg,
    UnlockedSender,
)
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.executor import compile_test_contracts, deploy_executor_on_devnet
from liqbot.harness.devnet.rpc import ADMIN, ANVIL_ACCOUNTS, ANVIL_KEYS, LIQUIDATOR, WHALE, DevnetRpc

from .helpers import MAX_UINT, WAD, balance, book, positions

pytestmark = pytest.mark.devnet

STRANGER = ANVIL_ACCOUNTS[7]
FEES = {("WETH", "USDC"): 500, ("WETH", "DAI"): 3000, ("WBTC", "USDC"): 3000, ("WBTC", "DAI"): 3000}
GAS: dict[str, int] = {}  # mode -> gas used, printed at the end of the module (run with -s to see it)


@dataclass
class Env:
    devnet: manager.Devnet
    rpc: DevnetRpc
    a: dict[str, Any]
    ex: ExecutorContract

    def token(self, symbol: str) -> str:
        return str(self.a["tokens"][symbol]["address"])

    def mint(self, token: str, to: str, amount: int) -> None:
        self.rpc.transact(self.rpc.contract("MintableERC20", token).functions.mint(to, amount))

    def run(self, data: bytes, sender: str = LIQUIDATOR) -> TxReceipt:
        return self.ex.execute(UnlockedSender(sender), data)

    def swap(self, coll: str, debt: str, router: str | None = None, **kw: Any) -> SwapLeg:
        return SwapLeg(router or self.a["uniswap"]["swap_router"], FEES[(coll, debt)], **kw)


@pytest.fixture
def env(devnet: manager.Devnet, chain: DevnetRpc) -> Env:
    a = devnet.addresses()
    return Env(devnet, chain, a, ExecutorContract(chain, deploy_executor_on_devnet(chain, a)))


@pytest.fixture(scope="module", autouse=True)
def _report_gas() -> Any:
    yield
    if GAS:
        print("\nexecutor gas used per mode:", ", ".join(f"{k} {v:,}" for k, v in sorted(GAS.items())))


def reverts(fn: Callable[[], Any]) -> ExecutorError:
    """Run an eth_call / send that must revert; return the decoded reason."""
    try:
        fn()
    except ExecutorError as exc:
        return exc
    except (ContractCustomError, ContractLogicError) as exc:
        return as_executor_error(exc)
    except Web3Exception as exc:  # pragma: no cover - shows what happened instead
        raise AssertionError(f"unexpected error {exc!r}") from exc
    raise AssertionError("expected a revert")


# --- picking positions after the shock ------------------------------------------------------------


def aave_victim(env: Env, debts: tuple[str, ...] = ("USDC", "DAI")) -> tuple[AaveTarget, str, int]:
    """A liquidatable Aave position with WETH collateral and a USDC/DAI debt: (target, debt symbol, debt)."""
    seeded = book(env.devnet)
    pool = env.rpc.contract("Pool", env.a["aave"]["pool"])
    for p in sorted(positions(env.devnet, "aave_v3"), key=lambda p: p.health_factor):
        b = seeded[p.borrower]
        if p.health_factor >= WAD or "WETH" not in b["collateral"]:
            continue
        for sym in debts:
            if sym in b["debt"]:
                vdebt = pool.functions.getReserveData(env.token(sym)).call()[10]
                # Interest accrues between this read and the liquidation's block: borrow a little more.
                owed = balance(env.rpc, vdebt, p.borrower) * 1001 // 1000
                return AaveTarget(pool.address, env.token("WETH"), env.token(sym), p.borrower), sym, owed
    raise AssertionError("no liquidatable WETH-collateral position with a stablecoin debt")


def morpho_victim(env: Env, by_shares: bool = False) -> MorphoTarget:
    m = env.a["morpho"]["markets"][0]
    morpho = env.rpc.contract(shipped_abi("Morpho"), env.a["morpho"]["morpho"])
    under = [p for p in positions(env.devnet, "morpho_blue") if p.health_factor < WAD]
    assert under, "a 20% WETH drop must make a Morpho position liquidatable"
    victim = under[0].borrower
    _supply, shares, coll = morpho.functions.position(m["id"], victim).call()
    market = MorphoMarket(m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], m["lltv"])
    _tsa, _tss, total_borrow, total_shares, _lu, _fee = morpho.functions.market(m["id"]).call()
    owed = -(-shares * (total_borrow + 1) // (total_shares + 10**6))
    cap = owed + owed // 100
    if by_shares:
        return MorphoTarget(morpho.address, market, victim, cap, repaid_shares=shares // 2)
    return MorphoTarget(morpho.address, market, victim, cap, seized_assets=coll // 2)


def assert_clean(env: Env, debt: str, coll: str, debt_before: int, kept: int, spenders: list[str]) -> None:
    """Only the kept profit is left behind, and no allowance outlives the call."""
    assert balance(env.rpc, debt, env.ex.address) == debt_before + kept
    assert balance(env.rpc, coll, env.ex.address) == 0
    for token in (debt, coll):
        erc = env.ex.erc20(token)
        for spender in spenders:
            assert erc.functions.allowance(env.ex.address, to_checksum_address(spender)).call() == 0


def one_liquidation(env: Env, receipt: TxReceipt) -> dict[str, Any]:
    (event,) = env.ex.liquidations(receipt)
    assert event["repaid"] > 0 and event["seized"] > 0 and event["profit"] > 0
    return event


# --- the four ways to fund a liquidation ----------------------------------------------------------


@pytest.mark.parametrize("lender", ["aave", "morpho"])
def test_aave_flash_liquidation_profits(env: Env, lender: str) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env, ("USDC",) if lender == "morpho" else ("USDC", "DAI"))
    swap = env.swap("WETH", sym)
    if lender == "aave":
        data = ec.aave_flash(target, target.pool, owed, swap, min_profit=1)
        premium = ec.aave_flash_premium(env.rpc.w3, target.pool, owed)
        assert premium == owed * 5 // 10_000 or premium == (owed * 5 + 5_000) // 10_000
    else:
        data = ec.morpho_flash(target, env.a["morpho"]["morpho"], owed, swap, min_profit=1)
    simulated = env.ex.simulate(LIQUIDATOR, data)
    receipt = env.run(data)
    event = one_liquidation(env, receipt)
    # eth_call ran a block earlier: a few seconds of interest apart, not more.
    assert abs(event["profit"] - simulated) * 10_000 < simulated
    fee = ec.aave_flash_premium(env.rpc.w3, target.pool, owed) if lender == "aave" else 0
    assert event["flashFee"] == fee
    GAS[f"flash:{lender}->aave"] = receipt["gasUsed"]
    spenders = [target.pool, env.a["morpho"]["morpho"], env.a["uniswap"]["swap_router"]]
    assert_clean(env, target.debt, target.collateral, 0, event["profit"], spenders)


@pytest.mark.parametrize("by_shares", [False, True], ids=["seizedAssets", "repaidShares"])
def test_morpho_liquidate_callback_profits(env: Env, by_shares: bool) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target = morpho_victim(env, by_shares)
    data = ec.morpho_callback(target, env.swap("WETH", "USDC"), min_profit=1)
    receipt = env.run(data)
    event = one_liquidation(env, receipt)
    assert event["flashFee"] == 0
    GAS[f"callback:morpho({'shares' if by_shares else 'seized'})"] = receipt["gasUsed"]
    loan, coll = target.market.loan_token, target.market.collateral_token
    assert_clean(env, loan, coll, 0, event["profit"], [target.morpho, env.a["uniswap"]["swap_router"]])


def test_funds_mode_aave_and_morpho(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env)
    env.mint(target.debt, env.ex.address, owed)
    receipt = env.run(ec.funds(target, env.swap("WETH", sym), min_profit=1))
    event = one_liquidation(env, receipt)
    GAS["funds:aave"] = receipt["gasUsed"]
    assert_clean(env, target.debt, target.collateral, owed, event["profit"],
                 [target.pool, env.a["uniswap"]["swap_router"]])  # fmt: skip

    m = morpho_victim(env)
    usdc = m.market.loan_token
    start = balance(env.rpc, usdc, env.ex.address)
    env.mint(usdc, env.ex.address, m.max_repay)
    receipt = env.run(ec.funds(m, env.swap("WETH", "USDC"), min_profit=1))
    event = one_liquidation(env, receipt)
    GAS["funds:morpho"] = receipt["gasUsed"]
    assert_clean(env, usdc, m.market.collateral_token, start + m.max_repay, event["profit"],
                 [m.morpho, env.a["uniswap"]["swap_router"]])  # fmt: skip


def test_morpho_flash_can_fund_a_morpho_liquidation_and_aave_flash_too(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    m = morpho_victim(env)
    receipt = env.run(ec.morpho_flash(m, m.morpho, m.max_repay, env.swap("WETH", "USDC"), min_profit=1))
    one_liquidation(env, receipt)
    m2 = morpho_victim(env, by_shares=True)
    receipt = env.run(ec.aave_flash(m2, env.a["aave"]["pool"], m2.max_repay, env.swap("WETH", "USDC"), 1))
    one_liquidation(env, receipt)


def test_profit_to_treasury_leaves_nothing_behind(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env)
    treasury = env.a["safe"]["treasury"]
    before = balance(env.rpc, target.debt, treasury)
    swap = env.swap("WETH", sym)
    receipt = env.run(ec.aave_flash(target, target.pool, owed, swap, 1, profit_to_treasury=True))
    event = one_liquidation(env, receipt)
    assert event["profitToTreasury"] is True
    assert balance(env.rpc, target.debt, treasury) - before == event["profit"]
    assert_clean(env, target.debt, target.collateral, 0, 0, [target.pool])


def test_router02_kind_swaps_through_an_allowed_router02(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    adapter = env.rpc.deploy(compile_test_contracts()["Router02Adapter.sol:Router02Adapter"],
                             env.a["uniswap"]["swap_router"])  # fmt: skip
    target, sym, owed = aave_victim(env)
    swap = env.swap("WETH", sym, router=adapter, kind=RouterKind.SWAP_ROUTER_02, deadline=2**40)
    err = reverts(lambda: env.ex.simulate(LIQUIDATOR, ec.aave_flash(target, target.pool, owed, swap, 1)))
    assert err.error == "RouterNotAllowed"
    env.ex.admin(UnlockedSender(ADMIN), "setRouter", adapter, True)
    one_liquidation(env, env.run(ec.aave_flash(target, target.pool, owed, swap, 1)))
    kept = balance(env.rpc, target.debt, env.ex.address)
    assert_clean(env, target.debt, target.collateral, 0, kept, [adapter])


# --- refusals ------------------------------------------------------------------------------------


def test_unprofitable_call_reverts_with_its_reason(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env)
    data = ec.aave_flash(target, target.pool, owed, env.swap("WETH", sym), min_profit=10**30)
    err = reverts(lambda: env.run(data))
    assert err.error == "Unprofitable" and err.error_args["minProfit"] == 10**30
    assert 0 < err.error_args["profit"] < 10**30
    assert "below minProfit" in err.reason
    # A minimum swap output the pool cannot give fails inside the swap, before any profit is counted.
    tight = env.swap("WETH", sym, min_amount_out=10**30)
    err = reverts(lambda: env.ex.simulate(LIQUIDATOR, ec.aave_flash(target, target.pool, owed, tight, 0)))
    assert "Too little received" in err.reason


def test_only_owner_or_executor_may_liquidate(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env)
    data = ec.aave_flash(target, target.pool, owed, env.swap("WETH", sym), 0)
    err = reverts(lambda: env.run(data, sender=STRANGER))
    assert err.error == "NotExecutor" and err.error_args["caller"] == STRANGER
    assert env.ex.simulate(ADMIN, data) > 0  # the owner may
    env.ex.admin(UnlockedSender(ADMIN), "setExecutor", LIQUIDATOR, False)
    assert reverts(lambda: env.ex.simulate(LIQUIDATOR, data)).error == "NotExecutor"


def test_execute_operation_called_directly_reverts(env: Env) -> None:
    fn = env.ex.contract.functions.executeOperation(env.token("USDC"), 10**6, 0, env.ex.address, b"\x01")
    err = reverts(lambda: fn.call({"from": STRANGER}))
    assert err.error == "UnexpectedCallback"
    # Even from the real pool's address, nothing is awaited outside our own entry point.
    err = reverts(lambda: fn.call({"from": env.a["aave"]["pool"]}))
    assert err.error == "UnexpectedCallback"


def test_flash_loan_started_by_a_stranger_reverts(env: Env) -> None:
    """A third party asks Aave to flash-lend to the executor: the pool calls back with the stranger as the
    initiator, and the executor must refuse to pay the premium."""
    usdc = env.token("USDC")
    env.mint(usdc, env.ex.address, 10**9)  # inventory that could pay a premium
    pool = env.rpc.contract("Pool", env.a["aave"]["pool"])
    fn = pool.functions.flashLoanSimple(env.ex.address, usdc, 10**12, b"", 0)
    err = reverts(lambda: fn.call({"from": STRANGER}))
    assert err.error == "UntrustedInitiator" and err.error_args["initiator"] == STRANGER
    with pytest.raises(Exception, match="revert"):
        env.rpc.transact(fn, sender=STRANGER)
    assert balance(env.rpc, usdc, env.ex.address) == 10**9


@pytest.mark.parametrize("callback", ["onMorphoLiquidate", "onMorphoFlashLoan"])
def test_morpho_callbacks_we_did_not_start_revert(env: Env, callback: str) -> None:
    env.mint(env.token("USDC"), env.ex.address, 10**9)
    fn = getattr(env.ex.contract.functions, callback)(10**6, b"\x01")
    for sender in (STRANGER, env.a["morpho"]["morpho"]):
        err = reverts(lambda s=sender: fn.call({"from": s}))
        assert err.error == "UnexpectedCallback"


@pytest.mark.parametrize("tamper", [False, True], ids=["never-calls-back", "alters-data"])
def test_a_lender_cannot_skip_or_alter_the_callback(env: Env, tamper: bool) -> None:
    """An executor key may name any lender; a lender that does nothing, or hands back altered data (here a
    larger starting collateral balance, which would let a swap take inventory), is refused."""
    manager.do_shock(env.devnet, "WETH", -20)
    built = compile_test_contracts()["FakeLender.sol:FakeLender"]
    fake = env.rpc.deploy(built)
    env.rpc.transact(env.rpc.contract(built["abi"], fake).functions.setTamper(tamper))
    target, sym, owed = aave_victim(env)
    err = reverts(lambda: env.run(ec.morpho_flash(target, fake, owed, env.swap("WETH", sym), 0)))
    assert err.error == ("CallbackDataMismatch" if tamper else "CallbackNotCalled")


@pytest.mark.parametrize("reentry", ["liquidateAave", "executeOperation", "withdraw"])
def test_reentrant_calls_revert(env: Env, reentry: str) -> None:
    """A router that calls back into the executor mid-swap (allowed as router and executor key, so only the
    reentrancy and callback guards stand in the way)."""
    manager.do_shock(env.devnet, "WETH", -20)
    evil = env.rpc.deploy(compile_test_contracts()["ReentrantRouter.sol:ReentrantRouter"])
    owner = UnlockedSender(ADMIN)
    env.ex.admin(owner, "setRouter", evil, True)
    env.ex.admin(owner, "setExecutor", evil, True)
    target, sym, owed = aave_victim(env)
    swap = SwapLeg(evil, FEES[("WETH", sym)])
    c = env.ex.contract
    payload = {
        "liquidateAave": ec.funds(target, swap, 0),
        "executeOperation": c.encode_abi("executeOperation", [target.debt, 1, 0, env.ex.address, b"\x01"]),
        "withdraw": c.encode_abi("withdraw", args=[target.debt, 1, ADMIN]),
    }[reentry]
    env.rpc.transact(env.rpc.contract(compile_test_contracts()["ReentrantRouter.sol:ReentrantRouter"]["abi"],
                                      evil).functions.arm(env.ex.address, payload))  # fmt: skip
    err = reverts(lambda: env.run(ec.aave_flash(target, target.pool, owed, swap, 0)))
    assert err.error == {"liquidateAave": "Reentrancy", "executeOperation": "UnexpectedCallback",
                         "withdraw": "NotOwner"}[reentry]  # fmt: skip


def test_withdrawals_go_only_to_owner_or_treasury(env: Env) -> None:
    usdc, treasury = env.token("USDC"), env.a["safe"]["treasury"]
    env.mint(usdc, env.ex.address, 5 * 10**6)
    owner = UnlockedSender(ADMIN)
    err = reverts(lambda: env.ex.withdraw(owner, usdc, 10**6, STRANGER))
    assert err.error == "BadRecipient" and err.error_args["to"] == STRANGER
    err = reverts(lambda: env.ex.withdraw(UnlockedSender(LIQUIDATOR), usdc, 10**6, treasury))
    assert err.error == "NotOwner"
    before = balance(env.rpc, usdc, treasury)
    env.ex.withdraw(owner, usdc, 10**6, treasury)
    assert balance(env.rpc, usdc, treasury) - before == 10**6
    env.ex.withdraw(owner, usdc, MAX_UINT, ADMIN)
    assert balance(env.rpc, usdc, env.ex.address) == 0


def test_pause_blocks_liquidations(env: Env) -> None:
    manager.do_shock(env.devnet, "WETH", -20)
    target, sym, owed = aave_victim(env)
    data = ec.aave_flash(target, target.pool, owed, env.swap("WETH", sym), 0)
    assert reverts(lambda: env.ex.admin(UnlockedSender(LIQUIDATOR), "setPaused", True)).error == "NotOwner"
    env.ex.admin(UnlockedSender(ADMIN), "setPaused", True)
    assert reverts(lambda: env.run(data)).error == "IsPaused"
    env.ex.admin(UnlockedSender(ADMIN), "setPaused", False)
    one_liquidation(env, env.run(data))


def test_status_and_deploy_settings(env: Env) -> None:
    st = env.ex.status([env.token("USDC")])
    assert st.owner == ADMIN and st.treasury == env.a["safe"]["treasury"] and not st.paused
    assert st.executors == (LIQUIDATOR,) and st.routers == (env.a["uniswap"]["swap_router"],)
    assert st.balances == {env.token("USDC"): 0}


def test_cli_deploy_status_withdraw(env: Env) -> None:
    runner = CliRunner()
    common = ["--devnet", "--dir", str(env.devnet.dir)]
    out = runner.invoke(executor_cmd.app, ["deploy", *common])
    assert out.exit_code == 0, out.output
    address = out.output.strip().splitlines()[-1]
    env.mint(env.token("DAI"), address, 3 * WAD)
    out = runner.invoke(executor_cmd.app, ["status", *common, "--address", address])
    assert out.exit_code == 0, out.output
    assert LIQUIDATOR in out.output and env.a["safe"]["treasury"] in out.output
    assert "3000000000000000000" in out.output
    to_treasury = ["--token", "DAI", "--amount", "1.5", "--to", "treasury"]
    args = ["withdraw", *common, "--address", address, *to_treasury]
    out = runner.invoke(executor_cmd.app, args)
    assert out.exit_code == 0, out.output
    assert balance(env.rpc, env.token("DAI"), address) == 15 * WAD // 10
    out = runner.invoke(executor_cmd.app, [*args[:-1], "someone"])
    assert out.exit_code != 0


def test_cli_signs_with_the_key_from_the_environment(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off the devnet the CLI signs locally with LIQBOT_SIGNER_KEY (here ADMIN's public anvil key)."""
    dai = env.token("DAI")
    env.mint(dai, env.ex.address, 2 * WAD)
    args = ["withdraw", "--rpc", env.rpc.url, "--address", env.ex.address, "--token", dai]
    args += ["--amount", "all", "--to", "owner"]
    monkeypatch.delenv("LIQBOT_SIGNER_KEY", raising=False)
    out = CliRunner().invoke(executor_cmd.app, args)
    assert out.exit_code != 0 and "LIQBOT_SIGNER_KEY is not set" in str(out.exception)
    monkeypatch.setenv("LIQBOT_SIGNER_KEY", ANVIL_KEYS[0])
    before = balance(env.rpc, dai, ADMIN)
    out = CliRunner().invoke(executor_cmd.app, args)
    assert out.exit_code == 0, out.output
    assert balance(env.rpc, dai, ADMIN) - before == 2 * WAD
    assert ANVIL_KEYS[0].removeprefix("0x") not in out.output
    assert ANVIL_KEYS[0] not in repr(ec.KeySender(ANVIL_KEYS[0]))


# --- offline encoding and decoding ---------------------------------------------------------------


def test_decode_error_reads_custom_errors() -> None:
    c = codec()
    sel = next(e for e in c.abi if e.get("name") == "Unprofitable" and e["type"] == "error")
    from eth_abi import encode
    from eth_utils import function_abi_to_4byte_selector

    data = function_abi_to_4byte_selector(sel) + encode(["int256", "uint256"], [-5, 10])
    err = ec.decode_error(data)
    assert err.error == "Unprofitable" and err.error_args == {"profit": -5, "minProfit": 10}
    assert str(err) == "Unprofitable: profit -5 is below minProfit 10 (debt-asset units)"
    assert ec.decode_error(None).reason == "reverted without a reason"
    market = MorphoMarket(WHALE, WHALE, WHALE, WHALE, 1)
    with pytest.raises(ValueError, match="exactly one"):
        MorphoTarget(WHALE, market, WHALE, 1, seized_assets=1, repaid_shares=1)
