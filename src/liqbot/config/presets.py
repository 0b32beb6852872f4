"""Chain presets: the public mainnet addresses an operator should not have to type.

A chain entry names `preset: <name>` and adds only endpoints and keys; every field it writes
itself wins over the preset (mappings merge key by key, lists are replaced whole).

Sources, checked when these were written (each address below names its own):
  [aave]      bgd-labs/aave-address-book src/AaveV3<Chain>.sol, POOL_ADDRESSES_PROVIDER
  [uni]       Uniswap/docs content/protocols/v3/deployments/v3-<chain>-deployments.mdx
              (docs.uniswap.org/contracts/v3/reference/deployments)
  [mc3]       mds1/multicall3 README: one address on every chain (also docs.base.org/chain/contracts)
  [seq]       docs.chain.link/data-feeds/l2-sequencer-feeds, "Supported networks" proxy addresses
  [morpho]    morpho-org/sdks packages/blue-sdk/src/addresses.ts; deploy blocks from
              morpho-org/morpho-lite-apps packages/uikit/src/lib/deployments.ts (fromBlock)
  [comet]     compound-finance/comet deployments/<chain>/usdc/roots.json ("comet"); the second
              USDC market per chain from that repo's migration tests (USDC.e, USDbC)
  [op]        OP Stack predeploys spec: GasPriceOracle at 0x420...0F (ethereum-optimism/specs)
  [arb]       docs.arbitrum.io NodeInterface reference: virtual contract at 0xc8, RPC only
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final, Literal

PresetName = Literal["ethereum", "arbitrum", "optimism", "base", "polygon"]

MULTICALL3: Final = "0xcA11bde05977b3631167028862bE2a173976CA11"  # [mc3]
OP_GAS_PRICE_ORACLE: Final = "0x420000000000000000000000000000000000000F"  # [op]
ARB_NODE_INTERFACE: Final = "0x00000000000000000000000000000000000000C8"  # [arb]

# Uniswap v3 core/periphery share these addresses on Ethereum, Arbitrum, Optimism and Polygon. [uni]
_UNI_FACTORY: Final = "0x1F98431c8aD98523631AE4a59f267346ea31F984"
_UNI_SWAP_ROUTER_V1: Final = "0xE592427A0AEce92De3Edee1F18E0157C05861564"
_UNI_QUOTER_V2: Final = "0x61fFE014bA17989E743c5F6cB21bF9697530B21e"
# Aave V3 PoolAddressesProvider shared by Arbitrum, Optimism and Polygon. [aave]
_AAVE_PAP_L2: Final = "0xa97684ead0e402dC232d5A977953DF7ECBaB3CDb"


def _uniswap_v1_router() -> dict[str, Any]:
    return {
        "multicall3": MULTICALL3,
        "uniswap_v3_factory": _UNI_FACTORY,
        "uniswap_v3_swap_router": _UNI_SWAP_ROUTER_V1,
        "uniswap_v3_swap_router_kind": "v1",
        "uniswap_v3_quoter_v2": _UNI_QUOTER_V2,
    }


PRESETS: Final[Mapping[str, Mapping[str, Any]]] = {
    "ethereum": {
        "chain_id": 1,
        "l2": "none",
        "block_time_s": 12.0,
        "contracts": {**_uniswap_v1_router(), "wrapped_native": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"},
        "protocols": {
            # [aave] AaveV3Ethereum.POOL_ADDRESSES_PROVIDER
            "aave_v3": {
                "enabled": True,
                "pool_addresses_provider": "0x2f39d218133AFaB8F2B819B1066c7E434Ad94E9e",
            },
            # [morpho] mainnet; deployed at block 18883124
            "morpho_blue": {
                "enabled": True,
                "morpho": "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb",
                "start_block": 18883124,
            },
            # [comet] deployments/mainnet/usdc: cUSDCv3
            "compound_v3": {"enabled": False, "comets": ["0xc3d688B66703497DAA19211EEdff47f25384cdc3"]},
        },
    },
    "arbitrum": {
        "chain_id": 42161,
        "l2": "arbitrum",
        "block_time_s": 0.25,
        "sequencer_uptime_feed": "0xFdB631F5EE196F0ed6FAa767959853A9F217697D",  # [seq] Arbitrum mainnet
        "contracts": {
            **_uniswap_v1_router(),
            "arb_node_interface": ARB_NODE_INTERFACE,
            "wrapped_native": "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1",
        },
        "protocols": {
            "aave_v3": {"enabled": True, "pool_addresses_provider": _AAVE_PAP_L2},  # [aave] AaveV3Arbitrum
            # [morpho] arbitrum; deployed at block 296446593
            "morpho_blue": {
                "enabled": True,
                "morpho": "0x6c247b1F6182318877311737BaC0844bAa518F5e",
                "start_block": 296446593,
            },
            "compound_v3": {
                "enabled": False,
                "comets": [
                    # [comet] deployments/arbitrum/usdc (native USDC)
                    "0x9c4ec768c28520B50860ea7a15bd7213a9fF58bf",
                    "0xA5EDBDD9646f8dFF606d7448e414884C7d905dCA",  # [comet] USDC.e market
                ],
            },
        },
    },
    "optimism": {
        "chain_id": 10,
        "l2": "op-stack",
        "block_time_s": 2.0,
        "sequencer_uptime_feed": "0x371EAD81c9102C9BF4874A9075FFFf170F2Ee389",  # [seq] OP mainnet
        "contracts": {
            **_uniswap_v1_router(),
            "op_gas_price_oracle": OP_GAS_PRICE_ORACLE,
            "wrapped_native": "0x4200000000000000000000000000000000000006",
        },
        "protocols": {
            "aave_v3": {"enabled": True, "pool_addresses_provider": _AAVE_PAP_L2},  # [aave] AaveV3Optimism
            # [morpho] optimism; deployed at block 130770075
            "morpho_blue": {
                "enabled": True,
                "morpho": "0xce95AfbB8EA029495c66020883F87aaE8864AF92",
                "start_block": 130770075,
            },
            # [comet] deployments/optimism/usdc roots.json
            "compound_v3": {"enabled": False, "comets": ["0x2e44e174f7D53F0212823acC11C01A11d58c5bCB"]},
        },
    },
    "base": {
        "chain_id": 8453,
        "l2": "op-stack",
        "block_time_s": 2.0,
        "sequencer_uptime_feed": "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433",  # [seq] BASE mainnet
        "contracts": {
            "wrapped_native": "0x4200000000000000000000000000000000000006",  # WETH predeploy
            "multicall3": MULTICALL3,
            # [uni] v3-base-deployments: Base has no v1 SwapRouter, only SwapRouter02.
            "uniswap_v3_factory": "0x33128a8fC17869897dcE68Ed026d694621f6FDfD",
            "uniswap_v3_swap_router": "0x2626664c2603336E57B271c5C0b26F421741e481",
            "uniswap_v3_swap_router_kind": "02",
            "uniswap_v3_quoter_v2": "0x3d4e44Eb1374240CE5F1B871ab261CD16335B76a",
            "op_gas_price_oracle": OP_GAS_PRICE_ORACLE,
        },
        "protocols": {
            # [aave] AaveV3Base.POOL_ADDRESSES_PROVIDER
            "aave_v3": {
                "enabled": True,
                "pool_addresses_provider": "0xe20fCBdBfFC4Dd138cE8b2E6FBb6CB49777ad64D",
            },
            # [morpho] base (same address as mainnet); deployed at block 13977148
            "morpho_blue": {
                "enabled": True,
                "morpho": "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb",
                "start_block": 13977148,
            },
            "compound_v3": {
                "enabled": False,
                "comets": [
                    # [comet] deployments/base/usdc (native USDC)
                    "0xb125E6687d4313864e53df431d5425969c15Eb2F",
                    "0x9c4ec768c28520B50860ea7a15bd7213a9fF58bf",  # [comet] USDbC market
                ],
            },
        },
    },
    "polygon": {
        "chain_id": 137,
        "l2": "none",  # Polygon PoS is not a rollup and has no Chainlink sequencer uptime feed
        "block_time_s": 2.0,
        "contracts": {**_uniswap_v1_router(), "wrapped_native": "0x0d500B1d8E8eF31E21C99d1Db9A6444d3ADf1270"},
        "protocols": {
            "aave_v3": {"enabled": True, "pool_addresses_provider": _AAVE_PAP_L2},  # [aave] AaveV3Polygon
            # [morpho] polygon; deployed at block 66931042
            "morpho_blue": {
                "enabled": True,
                "morpho": "0x1bF0c2541F820E775182832f06c0B7Fc27A25f67",
                "start_block": 66931042,
            },
            # [comet] deployments/polygon/usdc roots.json (USDC.e base asset)
            "compound_v3": {"enabled": False, "comets": ["0xF25212E676D1F7F89Cd72fFEe66158f541246445"]},
        },
    },
}


def _merge(base: Mapping[str, Any], override: Mapping[Any, Any]) -> dict[Any, Any]:
    merged: dict[Any, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_preset(chain: Mapping[Any, Any]) -> dict[Any, Any]:
    """Return the chain entry with its preset's fields filled in; explicit fields win.

    An unknown preset name is left alone so that validation reports it with the valid names.
    """
    name = chain.get("preset")
    if not isinstance(name, str) or name not in PRESETS:
        return dict(chain)
    return _merge(PRESETS[name], chain)
