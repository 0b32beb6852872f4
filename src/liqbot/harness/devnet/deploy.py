"""Deploy the whole devnet market onto a fresh anvil and return every address."""

from __future__ import annotations

from typing import Any

from liqbot.harness.devnet import solc
from liqbot.harness.devnet.deploy_aave import deploy_aave, deploy_tokens
from liqbot.harness.devnet.deploy_dex import deploy_uniswap
from liqbot.harness.devnet.deploy_more import (
    deploy_gas_price_oracle,
    deploy_l2_sentinel,
    deploy_morpho,
    deploy_multicall3,
    deploy_safe,
)
from liqbot.harness.devnet.executor import deploy_executor_on_devnet
from liqbot.harness.devnet.paths import contracts_dir
from liqbot.harness.devnet.rpc import ADMIN, LIQUIDATOR, WHALE, DevnetRpc


def deploy_all(rpc: DevnetRpc, *, l2: bool, grace_period_s: int) -> dict[str, Any]:
    own = solc.compile_devnet_contracts(contracts_dir())
    morpho_build = solc.compile_morpho()
    chain_id = rpc.w3.eth.chain_id
    multicall = deploy_multicall3(rpc, own)
    safe = deploy_safe(rpc)
    tokens = deploy_tokens(rpc, own["PriceFeed.sol:PriceFeed"])
    aave = deploy_aave(rpc, tokens, treasury=safe["treasury"])
    l2_info = None
    if l2:
        l2_info = deploy_l2_sentinel(rpc, aave["pool_addresses_provider"], grace_period_s)
        l2_info["gas_price_oracle"] = deploy_gas_price_oracle(rpc, own)
    uniswap = deploy_uniswap(rpc, tokens)
    morpho = deploy_morpho(rpc, morpho_build, tokens)
    executor = deploy_executor_on_devnet(rpc, {"safe": safe, "uniswap": uniswap})
    return {
        "executor": executor,
        "chain_id": chain_id,
        "l2": l2_info,
        "accounts": {"admin": ADMIN, "whale": WHALE, "liquidator": LIQUIDATOR},
        "multicall3": multicall,
        "tokens": tokens,
        "aave": aave,
        "uniswap": uniswap,
        "morpho": morpho,
        "safe": safe,
        "deploy_block": rpc.w3.eth.block_number,
        "solc": solc.solc_version(),
    }
