"""Deploy Morpho Blue (compiled from npm sources), Safe 1.4.1 with a 2-of-3 treasury, Multicall3,
and the L2 sentinel."""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3.logs import DISCARD

from liqbot.harness.devnet import artifacts, spec
from liqbot.harness.devnet.deploy_aave import MAX_UINT, ZERO
from liqbot.harness.devnet.rpc import ADMIN, SAFE_OWNERS, WHALE, DevnetRpc
from liqbot.harness.devnet.solc import Artifact


def morpho_market_id(loan: str, collateral: str, oracle: str, irm: str, lltv: int) -> str:
    """Id = keccak256(abi.encode(marketParams)), as Morpho's MarketParamsLib computes it."""
    packed = encode(
        ["address", "address", "address", "address", "uint256"], [loan, collateral, oracle, irm, lltv]
    )
    return "0x" + keccak(packed).hex()


def morpho_oracle_price(collateral: str, loan: str) -> int:
    """Morpho's oracle price: loan raw units per collateral raw unit, scaled by 1e36."""
    c, lo = spec.TOKEN_BY_SYMBOL[collateral], spec.TOKEN_BY_SYMBOL[loan]
    return c.price * int(10 ** (36 + lo.decimals - c.decimals)) // lo.price


def deploy_morpho(
    rpc: DevnetRpc, built: dict[str, Artifact], tokens: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    morpho = rpc.deploy(built["Morpho.sol:Morpho"], ADMIN)
    irm = rpc.deploy(built["IrmMock.sol:IrmMock"])
    m = rpc.w3.eth.contract(address=to_checksum_address(morpho), abi=built["Morpho.sol:Morpho"]["abi"])
    rpc.transact(m.functions.enableIrm(irm))
    markets = []
    for coll, loan, lltv in spec.MORPHO_MARKETS:
        oracle = rpc.deploy(built["OracleMock.sol:OracleMock"])
        oc = rpc.w3.eth.contract(
            address=to_checksum_address(oracle), abi=built["OracleMock.sol:OracleMock"]["abi"]
        )
        rpc.transact(oc.functions.setPrice(morpho_oracle_price(coll, loan)))
        if not m.functions.isLltvEnabled(lltv).call():
            rpc.transact(m.functions.enableLltv(lltv))
        params = (tokens[loan]["address"], tokens[coll]["address"], oracle, irm, lltv)
        rpc.transact(m.functions.createMarket(params))
        amount = spec.MORPHO_LENDER_SUPPLY * 10 ** spec.TOKEN_BY_SYMBOL[loan].decimals
        token = rpc.contract("MintableERC20", tokens[loan]["address"])
        rpc.transact(token.functions.mint(WHALE, amount))
        rpc.transact(token.functions.approve(morpho, MAX_UINT), sender=WHALE)
        rpc.transact(m.functions.supply(params, amount, 0, WHALE, b""), sender=WHALE)
        markets.append(
            {
                "id": morpho_market_id(*params),
                "loan": loan,
                "collateral": coll,
                "loan_token": params[0],
                "collateral_token": params[1],
                "oracle": oracle,
                "irm": irm,
                "lltv": lltv,
            }
        )
    return {"morpho": morpho, "irm": irm, "markets": markets}


def deploy_safe(rpc: DevnetRpc) -> dict[str, Any]:
    singleton = rpc.deploy(artifacts.load("Safe"))
    factory = rpc.deploy(artifacts.load("SafeProxyFactory"))
    handler = rpc.deploy(artifacts.load("CompatibilityFallbackHandler"))
    multisend = rpc.deploy(artifacts.load("MultiSendCallOnly"))
    safe_c = rpc.contract("Safe", singleton)
    owners = list(SAFE_OWNERS)
    setup = safe_c.encode_abi("setup", args=[owners, 2, ZERO, b"", handler, ZERO, 0, ZERO])
    f = rpc.contract("SafeProxyFactory", factory)
    receipt = rpc.transact(f.functions.createProxyWithNonce(singleton, setup, 0))
    (event,) = f.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    return {
        "singleton": singleton,
        "proxy_factory": factory,
        "fallback_handler": handler,
        "multisend_call_only": multisend,
        "treasury": event["args"]["proxy"],
        "owners": owners,
        "threshold": 2,
    }


def deploy_multicall3(rpc: DevnetRpc, built: dict[str, Artifact]) -> str:
    """Place Multicall3's runtime code at its canonical address, so configs match every mainnet."""
    rpc.call("anvil_setCode", spec.MULTICALL3_ADDRESS, built["Multicall3.sol:Multicall3"]["deployedBytecode"])
    return spec.MULTICALL3_ADDRESS


def deploy_gas_price_oracle(rpc: DevnetRpc, built: dict[str, Artifact]) -> str:
    """The OP-stack L1-fee oracle at its predeploy address, so L2 pricing includes the L1 data fee."""
    code = built["GasPriceOracle.sol:GasPriceOracle"]["deployedBytecode"]
    rpc.call("anvil_setCode", spec.OP_GAS_PRICE_ORACLE, code)
    return spec.OP_GAS_PRICE_ORACLE


def deploy_l2_sentinel(rpc: DevnetRpc, provider: str, grace_period_s: int) -> dict[str, Any]:
    """Aave's SequencerOracle + PriceOracleSentinel wired into the provider; sequencer 'up long ago'."""
    seq = rpc.deploy(artifacts.load("SequencerOracle"), ADMIN)
    # Up since timestamp 1: a fresh "up" would put borrowing itself inside the grace period.
    rpc.transact(rpc.contract("SequencerOracle", seq).functions.setAnswer(False, 1))
    sentinel = rpc.deploy(artifacts.load("PriceOracleSentinel"), provider, seq, grace_period_s)
    rpc.transact(rpc.contract("PoolAddressesProvider", provider).functions.setPriceOracleSentinel(sentinel))
    return {"sequencer_oracle": seq, "price_oracle_sentinel": sentinel, "grace_period_s": grace_period_s}
