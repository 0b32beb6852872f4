"""liqbot's Aave V3 math equals the deployed v3.0 contracts to the wei.

Every test reads the raw state (reserves, configurations, scaled balances, oracle prices, block timestamp) in
one Multicall3 batch at one block, computes locally with liqbot.protocols.aave_v3, and compares with what the
Pool itself returns or moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from liqbot.core.errors import DevnetError
from liqbot.core.fixed import MAX_UINT256, ray_div
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.positions import multicall
from liqbot.harness.devnet.rpc import ADMIN, LIQUIDATOR, DevnetRpc
from liqbot.harness.devnet.shock import FEED_ABI
from liqbot.protocols.aave_v3 import (
    AaveRevision,
    EModeCategory,
    LiquidationRevertError,
    Market,
    ReserveConfig,
    ReserveState,
    StableDebt,
    UserConfig,
    UserPosition,
    UserReserve,
    a_token_balance,
    liquidation_inputs,
    quote_liquidation,
    user_account_data,
    variable_debt_balance,
)

from .helpers import WAD, balance, book, fund

pytestmark = pytest.mark.devnet

DAY = 86_400
ZERO = "0x0000000000000000000000000000000000000000"
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()


@dataclass
class Snapshot:
    """One block's market: what user_account_data needs, plus the token addresses to read balances."""

    market: Market
    assets: dict[int, str]  # reserve id -> underlying
    tokens: dict[int, tuple[str, str, str]]  # reserve id -> (aToken, stableDebt, variableDebt)
    timestamp: int


class Reader:
    def __init__(self, chain: DevnetRpc, devnet: manager.Devnet) -> None:
        self.chain, self.a = chain, devnet.addresses()
        self.pool = chain.contract("Pool", self.a["aave"]["pool"])
        self.oracle = chain.contract("AaveOracle", self.a["aave"]["oracle"])
        self._erc = {n: chain.contract(n, ZERO) for n in ("AToken", "StableDebtToken", "VariableDebtToken")}

    def _calls(self, calls: list[tuple[str, Any, str, list[Any]]]) -> list[bytes]:
        """(target, contract for the ABI, function, args) -> raw return data, all at the latest block."""
        data = [(t, bytes.fromhex(c.encode_abi(fn, args=args)[2:])) for t, c, fn, args in calls]
        return multicall(self.chain, data)

    def snapshot(self, emode_ids: tuple[int, ...] = (1,)) -> Snapshot:
        assets = self.pool.functions.getReservesList().call()
        calls = [(self.pool.address, self.pool, "getReserveData", [x]) for x in assets]
        calls += [(self.oracle.address, self.oracle, "getAssetPrice", [x]) for x in assets]
        calls += [(self.pool.address, self.pool, "getEModeCategoryData", [e]) for e in emode_ids]
        raw = self._calls(calls)
        ts = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        n = len(assets)
        reserve_t = "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,address,address,address,address,uint128,uint128,uint128)"  # noqa: E501
        reserves, prices, tokens, ids = {}, {}, {}, {}
        for asset, r, p in zip(assets, raw[:n], raw[n : 2 * n], strict=True):
            (conf, li, lr, vi, vr, sr, lu, rid, at, sd, vd, *_), price = decode([reserve_t], r)[0], p
            reserves[rid] = ReserveState(rid, ReserveConfig.decode(conf[0]), li, lr, vi, vr, sr, lu)
            prices[rid] = int.from_bytes(price, "big")
            tokens[rid], ids[rid] = (
                (to_checksum_address(at), to_checksum_address(sd), to_checksum_address(vd)),
                asset,
            )
        cats = {}
        for e, r in zip(emode_ids, raw[2 * n :], strict=True):
            ltv, lt, bonus, source, _label = decode(["(uint16,uint16,uint16,address,string)"], r)[0]
            price = (
                None
                if int(source, 16) == 0
                else int(self.oracle.functions.getAssetPrice(to_checksum_address(source)).call())
            )
            cats[e] = EModeCategory(ltv, lt, bonus, price)
        return Snapshot(Market(reserves, prices, cats), ids, tokens, ts)

    def rid(self, snap: Snapshot, symbol: str) -> int:
        asset = self.a["tokens"][symbol]["address"]
        return next(r for r, x in snap.assets.items() if x.lower() == asset.lower())

    def users(self, snap: Snapshot, users: list[str]) -> dict[str, tuple[UserPosition, tuple[int, ...]]]:
        """Each user's position and the Pool's own getUserAccountData, read in the same block as `snap`."""
        per_user: list[tuple[str, Any, str, list[Any]]] = [("", self.pool, "getUserConfiguration", [])]
        per_user += [("", self.pool, "getUserEMode", []), ("", self.pool, "getUserAccountData", [])]
        for at, sd, vd in snap.tokens.values():
            per_user += [
                (at, self._erc["AToken"], "scaledBalanceOf", []),
                (vd, self._erc["VariableDebtToken"], "scaledBalanceOf", []),
            ]
            per_user += [
                (sd, self._erc["StableDebtToken"], f, [])
                for f in ("principalBalanceOf", "getUserStableRate", "getUserLastUpdated")
            ]
        calls = [(t or self.pool.address, c, fn, [u]) for u in users for t, c, fn, _ in per_user]
        raw = self._calls(calls)
        out, k = {}, len(per_user)
        for j, u in enumerate(users):
            row = raw[j * k : (j + 1) * k]
            pool_data = tuple(decode(["uint256"] * 6, row[2]))
            words = [int.from_bytes(r, "big") for r in row]
            balances = {}
            for i, rid in enumerate(snap.tokens):
                s, v, p, rate, last = words[3 + 5 * i : 8 + 5 * i]
                balances[rid] = UserReserve(s, v, StableDebt(p, rate, last))
            out[u] = (UserPosition(UserConfig(words[0]), words[1], balances), pool_data)
        return out


def assert_account_data_matches(devnet: manager.Devnet, chain: DevnetRpc, users: list[str]) -> int:
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    checked = 0
    for user, (position, pool_says) in reader.users(snap, users).items():
        ours = user_account_data(snap.market, position, snap.timestamp)
        mine = (ours.total_collateral_base, ours.total_debt_base, ours.available_borrows_base)
        mine += (ours.current_liquidation_threshold, ours.ltv, ours.health_factor)
        assert mine == pool_says, f"{user}: ours {mine} != pool {pool_says}"
        checked += 1
    return checked


def advance(chain: DevnetRpc, seconds: int) -> None:
    chain.call("evm_increaseTime", seconds)
    chain.mine()


def aave_borrowers(devnet: manager.Devnet) -> list[str]:
    return [b["address"] for b in book(devnet).values() if b["protocol"] == "aave_v3"]


# --- getUserAccountData ------------------------------------------------------------------------------


def test_account_data_of_every_seeded_borrower(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    users = aave_borrowers(devnet)
    assert len(users) > 100
    assert assert_account_data_matches(devnet, chain, users) == len(users)


def test_account_data_after_30_days_of_interest(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    """No transaction touches the reserves: indices accrue only in our math and in the contract's view."""
    advance(chain, 30 * DAY)
    assert_account_data_matches(devnet, chain, aave_borrowers(devnet))
    advance(chain, 400 * DAY + 17)
    assert_account_data_matches(devnet, chain, aave_borrowers(devnet))


def test_account_data_after_price_shock(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    manager.do_shock(devnet, "WETH", -20)
    advance(chain, 3 * DAY)
    assert_account_data_matches(devnet, chain, aave_borrowers(devnet))


def test_emode_users_with_and_without_a_price_source(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    emode = [b["address"] for b in book(devnet).values() if b["emode"]]
    assert len(emode) > 10
    assert_account_data_matches(devnet, chain, emode)
    # Make DAI the stablecoin category's price source, then move DAI: every eMode asset is valued at it.
    a = devnet.addresses()
    conf = chain.contract("PoolConfigurator", a["aave"]["pool_configurator"])
    dai = a["tokens"]["DAI"]["address"]
    chain.transact(conf.functions.setEModeCategory(1, 9300, 9500, 10100, dai, "Stablecoins"), sender=ADMIN)
    manager.do_shock(devnet, "DAI", -3)
    snap = Reader(chain, devnet).snapshot()
    reader = Reader(chain, devnet)
    dai_id, usdc_id = reader.rid(snap, "DAI"), reader.rid(snap, "USDC")
    assert snap.market.emode_categories[1].price == snap.market.prices[dai_id] != snap.market.prices[usdc_id]
    assert_account_data_matches(devnet, chain, emode)


def test_zero_ltv_collateral(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    a = devnet.addresses()
    conf = chain.contract("PoolConfigurator", a["aave"]["pool_configurator"])
    wbtc = a["tokens"]["WBTC"]["address"]
    chain.transact(conf.functions.configureReserveAsCollateral(wbtc, 0, 7800, 10500), sender=ADMIN)
    users = [b["address"] for b in book(devnet).values() if "WBTC" in b["collateral"]]
    assert users
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    data = [user_account_data(snap.market, p, snap.timestamp) for p, _ in reader.users(snap, users).values()]
    assert all(d.has_zero_ltv_collateral for d in data)
    assert_account_data_matches(devnet, chain, users)


def test_collateral_disabled_by_the_user(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    multi = [b["address"] for b in book(devnet).values() if len(b["collateral"]) > 1]
    seen = reader.users(snap, multi)
    # The user with the most headroom drops the smaller of two collaterals and stays above HF 1.
    user = max(multi, key=lambda u: seen[u][1][5])
    held = seen[user][0].reserves

    def value(rid: int) -> int:
        r = snap.market.reserves[rid]
        balance = a_token_balance(held[rid].scaled_a_token_balance, r.normalized_income(snap.timestamp))
        return balance * snap.market.prices[rid] // r.configuration.unit

    rid = min((r for r in held if seen[user][0].config.is_using_as_collateral(r)), key=value)
    chain.call("anvil_impersonateAccount", user)
    fn = reader.pool.functions.setUserUseReserveAsCollateral(snap.assets[rid], False)
    chain.transact(fn, sender=user)
    advance(chain, 7 * DAY)
    snap = reader.snapshot()
    position, pool_says = reader.users(snap, [user])[user]
    assert not position.config.is_using_as_collateral(rid)
    assert position.reserves[rid].scaled_a_token_balance > 0
    assert pool_says[0] < seen[user][1][0], "the disabled collateral no longer counts"
    assert_account_data_matches(devnet, chain, [user])


def test_stable_rate_debt(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    """Stable borrowing is off on the devnet; turn it on for DAI and borrow at the stable rate."""
    a = devnet.addresses()
    conf = chain.contract("PoolConfigurator", a["aave"]["pool_configurator"])
    pool = chain.contract("Pool", a["aave"]["pool"])
    dai = a["tokens"]["DAI"]["address"]
    chain.transact(conf.functions.setReserveStableRateBorrowing(dai, True), sender=ADMIN)
    user = next(
        b for b in book(devnet).values() if b["protocol"] == "aave_v3" and "DAI" not in b["collateral"]
    )
    chain.call("anvil_impersonateAccount", user["address"])
    advance(chain, DAY)
    chain.transact(pool.functions.borrow(dai, 50 * 10**18, 1, 0, user["address"]), sender=user["address"])
    for days in (0, 45, 400):
        advance(chain, days * DAY + 1)
        reader = Reader(chain, devnet)
        snap = reader.snapshot()
        position, _ = reader.users(snap, [user["address"]])[user["address"]]
        dai_id = reader.rid(snap, "DAI")
        stable = position.reserves[dai_id].stable_debt
        assert stable.principal > 0
        token = chain.contract("StableDebtToken", snap.tokens[dai_id][1])
        assert stable.balance(snap.timestamp) == token.functions.balanceOf(user["address"]).call()
        assert_account_data_matches(devnet, chain, [user["address"]])


# --- indices and balances ----------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, 1, 13, DAY, 30 * DAY, 365 * DAY + 5])
def test_normalized_income_debt_and_balances(devnet: manager.Devnet, chain: DevnetRpc, seconds: int) -> None:
    if seconds:
        advance(chain, seconds)
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    pool = reader.pool
    sample = aave_borrowers(devnet)[:25]
    positions = reader.users(snap, sample)
    for rid, reserve in snap.market.reserves.items():
        asset = snap.assets[rid]
        assert (
            reserve.normalized_income(snap.timestamp)
            == pool.functions.getReserveNormalizedIncome(asset).call()
        )
        assert (
            reserve.normalized_debt(snap.timestamp)
            == pool.functions.getReserveNormalizedVariableDebt(asset).call()
        )
        a_token = chain.contract("AToken", snap.tokens[rid][0])
        v_token = chain.contract("VariableDebtToken", snap.tokens[rid][2])
        for user in sample[:8]:
            held = positions[user][0].reserves[rid]
            income, debt = reserve.normalized_income(snap.timestamp), reserve.normalized_debt(snap.timestamp)
            assert (
                a_token_balance(held.scaled_a_token_balance, income)
                == a_token.functions.balanceOf(user).call()
            )
            assert (
                variable_debt_balance(held.scaled_variable_debt, debt)
                == v_token.functions.balanceOf(user).call()
            )


# --- liquidations ------------------------------------------------------------------------------------


def liquidate_and_compare(
    devnet: manager.Devnet,
    chain: DevnetRpc,
    user: str,
    coll_sym: str,
    debt_sym: str,
    debt_to_cover: int = MAX_UINT256,
    receive_a_token: bool = False,
) -> Any:
    """Predict with the pure math at the next block's timestamp, liquidate for real, compare to the wei."""
    reader = Reader(chain, devnet)
    a, pool = reader.a, reader.pool
    coll, debt = a["tokens"][coll_sym]["address"], a["tokens"][debt_sym]["address"]
    fund(chain, debt, pool.address, 10**40)
    snap = reader.snapshot()
    cid, did = reader.rid(snap, coll_sym), reader.rid(snap, debt_sym)
    position, _ = reader.users(snap, [user])[user]
    when = snap.timestamp + 12
    fn = pool.functions.liquidationCall(coll, debt, user, debt_to_cover, receive_a_token)
    chain.call("evm_setNextBlockTimestamp", when)
    try:
        inputs = liquidation_inputs(snap.market, position, cid, did, when)
        quote = quote_liquidation(AaveRevision.V3_0, inputs, debt_to_cover, receive_a_token=receive_a_token)
    except LiquidationRevertError as exc:  # then the Pool must refuse too, with the same error code
        code = str(exc).rsplit("(", 1)[-1].rstrip(")")
        with pytest.raises(DevnetError, match=f"execution reverted: {code}'"):
            chain.transact(fn, sender=LIQUIDATOR)  # gas estimation hits the revert and reports its reason
        return None, None

    a_token = chain.contract("AToken", snap.tokens[cid][0])
    treasury = a["safe"]["treasury"]
    debt_before, coll_before = balance(chain, debt, LIQUIDATOR), balance(chain, coll, LIQUIDATOR)
    treasury_scaled = a_token.functions.scaledBalanceOf(treasury).call()
    liquidator_scaled = a_token.functions.scaledBalanceOf(LIQUIDATOR).call()
    receipt = chain.transact(fn, sender=LIQUIDATOR)
    assert chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == when

    (event,) = pool.events.LiquidationCall().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["debtToCover"] == quote.debt_to_repay
    assert event["args"]["liquidatedCollateralAmount"] == quote.collateral_to_liquidator
    # Collateral in the debt asset itself comes back to the same balance the repayment left.
    same = coll == debt and not receive_a_token
    back = quote.collateral_to_liquidator if same else 0
    assert debt_before - balance(chain, debt, LIQUIDATOR) == quote.debt_to_repay - back
    moved = {to: value for to, value in _a_token_transfers(receipt, a_token.address, user)}
    if receive_a_token:
        assert moved[LIQUIDATOR] == quote.collateral_to_liquidator
        scaled_gain = a_token.functions.scaledBalanceOf(LIQUIDATOR).call() - liquidator_scaled
        assert scaled_gain == ray_div(quote.collateral_to_liquidator, inputs.collateral_index)
    else:
        spent = quote.debt_to_repay if same else 0
        assert balance(chain, coll, LIQUIDATOR) - coll_before == quote.collateral_to_liquidator - spent
    assert moved.get(treasury, 0) == quote.protocol_fee
    treasury_gain = a_token.functions.scaledBalanceOf(treasury).call() - treasury_scaled
    assert treasury_gain == ray_div(quote.protocol_fee, inputs.collateral_index)
    return quote, inputs


def _a_token_transfers(receipt: Any, a_token: str, user: str) -> list[tuple[str, int]]:
    """aToken Transfer(user -> x, value) logs: the liquidator's aTokens and the treasury's fee."""
    out = []
    for log in receipt["logs"]:
        topics = [t.hex() if isinstance(t, bytes) else t for t in log["topics"]]
        topics = [t if t.startswith("0x") else "0x" + t for t in topics]
        if log["address"] == a_token and topics[0] == TRANSFER_TOPIC and int(topics[1], 16) == int(user, 16):
            data = log["data"] if isinstance(log["data"], bytes) else bytes.fromhex(log["data"][2:])
            out.append((to_checksum_address("0x" + topics[2][-40:]), int.from_bytes(data, "big")))
    return out


def shocked_candidates(devnet: manager.Devnet, chain: DevnetRpc) -> list[tuple[str, int, dict[str, Any]]]:
    """After WETH -20%: (user, our HF, seeded book entry) for positions with WETH collateral and HF < 1."""
    manager.do_shock(devnet, "WETH", -20)
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    seeded = book(devnet)
    users = [u for u, b in seeded.items() if b["protocol"] == "aave_v3" and "WETH" in b["collateral"]]
    out = []
    for user, (position, pool_says) in reader.users(snap, users).items():
        hf = user_account_data(snap.market, position, snap.timestamp).health_factor
        assert hf == pool_says[5]
        if hf < WAD:
            out.append((user, hf, seeded[user]))
    return out


def _largest_debt(b: dict[str, Any]) -> str:
    prices = {"WETH": 2400, "USDC": 1, "WBTC": 60_000, "DAI": 1}
    return max(
        b["debt"],
        key=lambda s: b["debt"][s] * prices[s] / 10 ** {"WETH": 18, "USDC": 6, "WBTC": 8, "DAI": 18}[s],
    )


def test_liquidation_above_095_closes_half(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    above = [c for c in shocked_candidates(devnet, chain) if c[1] > 95 * WAD // 100]
    assert above, "a 20% WETH drop must leave some positions between HF 0.95 and 1"
    user, _hf, b = above[0]
    quote, inputs = liquidate_and_compare(devnet, chain, user, "WETH", _largest_debt(b))
    debt = variable_debt_balance(inputs.debt_scaled_balance, inputs.debt_index)
    assert quote.max_liquidatable_debt == (debt * 5_000 + 5_000) // 10_000  # 50% close factor
    # A partial liquidation taking aTokens, on another position.
    user, _hf, b = above[-1]
    liquidate_and_compare(devnet, chain, user, "WETH", _largest_debt(b), 10**6 + 7, receive_a_token=True)


def test_reverting_liquidations_are_predicted(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    healthy = next(b for b in book(devnet).values() if b["protocol"] == "aave_v3")
    coll, debt = next(iter(healthy["collateral"])), next(iter(healthy["debt"]))
    assert liquidate_and_compare(devnet, chain, healthy["address"], coll, debt) == (None, None)  # 45
    user, _hf, b = next(c for c in shocked_candidates(devnet, chain) if "DAI" in c[2]["debt"])
    not_collateral = next(s for s in ("USDC", "WBTC", "DAI") if s not in b["collateral"])
    assert liquidate_and_compare(devnet, chain, user, not_collateral, "DAI") == (None, None)  # 46
    # 1 wei of DAI buys 0 wei of WETH and the aToken burn rejects a zero amount; with receiveAToken it passes.
    assert liquidate_and_compare(devnet, chain, user, "WETH", "DAI", 1) == (None, None)  # 25
    quote, _ = liquidate_and_compare(devnet, chain, user, "WETH", "DAI", 1, receive_a_token=True)
    assert quote.collateral_to_liquidator == 0 and quote.debt_to_repay == 1


@pytest.mark.parametrize("source", [None, "DAI"])
def test_emode_liquidation(devnet: manager.Devnet, chain: DevnetRpc, source: str | None) -> None:
    """Lower the stablecoin category's LT (it must stay above the assets' 80%): eMode positions fall under 1
    and are liquidated with the category's 1% bonus, priced by its price source when it has one."""
    a = devnet.addresses()
    conf = chain.contract("PoolConfigurator", a["aave"]["pool_configurator"])
    oracle = a["tokens"][source]["address"] if source else ZERO
    chain.transact(conf.functions.setEModeCategory(1, 7800, 8100, 10100, oracle, "Stablecoins"), sender=ADMIN)
    if source:
        manager.do_shock(devnet, source, -2)
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    emode = [b for b in book(devnet).values() if b["emode"]]
    seen = reader.users(snap, [b["address"] for b in emode])
    under = [b for b in emode if seen[b["address"]][1][5] < WAD]
    assert len(under) >= 2
    for b, receive in ((under[0], False), (under[-1], True)):
        coll, debt = next(iter(b["collateral"])), next(iter(b["debt"]))
        quote, inputs = liquidate_and_compare(
            devnet, chain, b["address"], coll, debt, receive_a_token=receive
        )
        assert quote is not None and inputs.liquidation_bonus == 10100
        if source:
            assert (
                inputs.collateral_price == inputs.debt_price == snap.market.prices[reader.rid(snap, source)]
            )


def test_liquidation_below_095_closes_all(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    below = sorted(
        (c for c in shocked_candidates(devnet, chain) if c[1] <= 95 * WAD // 100), key=lambda c: c[1]
    )
    assert below, "a 20% WETH drop must push some positions below HF 0.95"
    seen_capped = seen_full = False
    for user, _hf, b in [below[0], below[len(below) // 2], below[-1]]:
        debt_sym = _largest_debt(b)
        quote, inputs = liquidate_and_compare(devnet, chain, user, "WETH", debt_sym)
        debt = variable_debt_balance(inputs.debt_scaled_balance, inputs.debt_index)
        assert quote.max_liquidatable_debt == debt  # 100% close factor
        seen_full |= quote.debt_to_repay == debt
        seen_capped |= quote.debt_to_repay < debt  # collateral ran out first: the debtAmountNeeded branch
    assert seen_capped and seen_full


# --- random positions --------------------------------------------------------------------------------

SYMBOLS = ("WETH", "USDC", "WBTC", "DAI")
STABLES = ("USDC", "DAI")


@st.composite
def random_positions(draw: st.DrawFn) -> dict[str, Any]:
    emode = draw(st.booleans())
    collateral = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True))
    debts = draw(
        st.lists(st.sampled_from(STABLES if emode else SYMBOLS), min_size=1, max_size=2, unique=True)
    )
    return {
        "seed": draw(st.integers(0, 2**64 - 1)),
        "emode": emode,
        "collateral": {s: draw(st.integers(1, 200_000_000)) for s in collateral},  # US cents
        "debts": debts,
        # Skewed toward positions near their limit, so a shock of a collateral often makes them liquidatable.
        "borrow_bps": draw(st.one_of(st.integers(9_000, 9_990), st.integers(0, 9_990))),
        "seconds": draw(st.one_of(st.just(0), st.integers(1, 2 * 365 * DAY))),
        # Move the collateral prices so the HF lands near this target (bps): mostly below 1, sometimes above.
        "target_hf_bps": draw(st.one_of(st.integers(3_000, 9_999), st.none(), st.integers(3_000, 30_000))),
        "cover_bps": draw(st.one_of(st.just(10_000), st.integers(1, 10_000))),
    }


def open_position(chain: DevnetRpc, a: dict[str, Any], user: str, p: dict[str, Any]) -> None:
    """Supply, enter eMode, borrow a share of what LTV allows: all as the user, impersonated."""
    pool, oracle = (
        chain.contract("Pool", a["aave"]["pool"]),
        chain.contract("AaveOracle", a["aave"]["oracle"]),
    )
    chain.call("anvil_setBalance", user, hex(10**20))
    chain.call("anvil_impersonateAccount", user)
    price = {s: oracle.functions.getAssetPrice(a["tokens"][s]["address"]).call() for s in SYMBOLS}
    for sym, cents in p["collateral"].items():
        t = a["tokens"][sym]
        amount = max(1, cents * 10 ** t["decimals"] * 10**6 // price[sym])
        token = chain.contract("MintableERC20", t["address"])
        chain.transact(token.functions.mint(amount), sender=user)
        chain.transact(token.functions.approve(pool.address, MAX_UINT256), sender=user)
        chain.transact(pool.functions.supply(t["address"], amount, user, 0), sender=user)
    if p["emode"]:
        chain.transact(pool.functions.setUserEMode(1), sender=user)
    available = pool.functions.getUserAccountData(user).call()[2]
    for sym in p["debts"]:
        t = a["tokens"][sym]
        amount = available * p["borrow_bps"] // 10_000 // len(p["debts"]) * 10 ** t["decimals"] // price[sym]
        if amount:
            chain.transact(pool.functions.borrow(t["address"], amount, 2, 0, user), sender=user)


def move_collateral_prices(devnet: manager.Devnet, chain: DevnetRpc, user: str, p: dict[str, Any]) -> None:
    """Scale the feeds of the collateral assets that are not also borrowed, aiming at p["target_hf_bps"]."""
    reader = Reader(chain, devnet)
    snap = reader.snapshot()
    position, pool_says = reader.users(snap, [user])[user]
    moved = [s for s in p["collateral"] if s not in p["debts"]]
    if pool_says[5] == MAX_UINT256 or not moved:
        return
    # HF is proportional to sum(value * LT): solve for the factor f on the moved part M, U staying put.
    weighted = {}
    for rid, reserve in snap.market.reserves.items():
        held = position.reserves[rid]
        value = a_token_balance(held.scaled_a_token_balance, reserve.normalized_income(snap.timestamp))
        weighted[rid] = value * snap.market.prices[rid] * reserve.configuration.liquidation_threshold
    m = sum(weighted[reader.rid(snap, sym)] for sym in moved)
    u = sum(weighted.values()) - m
    goal = (m + u) * p["target_hf_bps"] * 10**14 // pool_says[5]
    for sym in moved:
        feed = chain.contract(FEED_ABI, reader.a["tokens"][sym]["feed"])
        answer = feed.functions.latestAnswer().call()
        chain.transact(feed.functions.setAnswer(max(1, answer * max(goal - u, 0) // m)), sender=ADMIN)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=random_positions())
def test_random_positions(devnet: manager.Devnet, chain: DevnetRpc, p: dict[str, Any]) -> None:
    """Fresh positions of random size and mix, aged and shocked at random; liquidated when the HF allows."""
    snap_id = chain.snapshot()
    try:
        a = devnet.addresses()
        user = to_checksum_address(keccak(b"liqbot-aave-math" + p["seed"].to_bytes(8, "big"))[-20:])
        open_position(chain, a, user, p)
        if p["seconds"]:
            advance(chain, p["seconds"])
        if p["target_hf_bps"]:
            move_collateral_prices(devnet, chain, user, p)
        assert_account_data_matches(devnet, chain, [user])
        reader = Reader(chain, devnet)
        snap = reader.snapshot()
        position, pool_says = reader.users(snap, [user])[user]
        if pool_says[5] < WAD:
            coll = max(p["collateral"], key=lambda s: p["collateral"][s])
            debt_sym = p["debts"][0]
            did = reader.rid(snap, debt_sym)
            index = snap.market.reserves[did].normalized_debt(snap.timestamp)
            owed = variable_debt_balance(position.reserves[did].scaled_variable_debt, index)
            cover = MAX_UINT256 if p["cover_bps"] == 10_000 else max(1, owed * p["cover_bps"] // 10_000)
            quote, _ = liquidate_and_compare(devnet, chain, user, coll, debt_sym, cover, p["seed"] % 2 == 1)
            event("liquidated" if quote else "liquidation reverts, as predicted")
    finally:
        chain.revert(snap_id)
