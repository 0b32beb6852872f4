"""Load compiled contracts from the npm packages (hardhat artifacts) and link their libraries."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet.paths import npm_package

Artifact = dict[str, Any]

# Short names → (npm package, path of the artifact inside it).
_AAVE = "artifacts/contracts"
_PATHS: dict[str, tuple[str, str]] = {
    "MintableERC20": ("@aave/core-v3", f"{_AAVE}/mocks/tokens/MintableERC20.sol/MintableERC20.json"),
    "PoolAddressesProvider": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
    ),
    "ACLManager": ("@aave/core-v3", f"{_AAVE}/protocol/configuration/ACLManager.sol/ACLManager.json"),
    "Pool": ("@aave/core-v3", f"{_AAVE}/protocol/pool/Pool.sol/Pool.json"),
    "PoolConfigurator": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
    ),
    "AaveOracle": ("@aave/core-v3", f"{_AAVE}/misc/AaveOracle.sol/AaveOracle.json"),
    "AaveProtocolDataProvider": (
        "@aave/core-v3",
        f"{_AAVE}/misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
    ),
    "AToken": ("@aave/core-v3", f"{_AAVE}/protocol/tokenization/AToken.sol/AToken.json"),
    "VariableDebtToken": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
    ),
    "StableDebtToken": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
    ),
    "DefaultReserveInterestRateStrategy": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
    ),
    "SequencerOracle": ("@aave/core-v3", f"{_AAVE}/mocks/oracle/SequencerOracle.sol/SequencerOracle.json"),
    "PriceOracleSentinel": (
        "@aave/core-v3",
        f"{_AAVE}/protocol/configuration/PriceOracleSentinel.sol/PriceOracleSentinel.json",
    ),
    "UniswapV3Factory": (
        "@uniswap/v3-core",
        "artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    ),
    "UniswapV3Pool": ("@uniswap/v3-core", "artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"),
    "SwapRouter": ("@uniswap/v3-periphery", "artifacts/contracts/SwapRouter.sol/SwapRouter.json"),
    "QuoterV2": ("@uniswap/v3-periphery", "artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"),
    "NonfungiblePositionManager": (
        "@uniswap/v3-periphery",
        "artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    ),
    "Safe": ("@safe-global/safe-contracts", "build/artifacts/contracts/Safe.sol/Safe.json"),
    "SafeProxyFactory": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    ),
    "CompatibilityFallbackHandler": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
    ),
    "MultiSendCallOnly": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
    ),
}

AAVE_LOGIC_LIBRARIES = (
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "PoolLogic",
    "ConfiguratorLogic",
    "FlashLoanLogic",  # links BorrowLogic, so it comes after it
)


@cache
def load(name: str) -> Artifact:
    """The artifact (abi, bytecode, linkReferences) for a short contract name."""
    if name in AAVE_LOGIC_LIBRARIES:
        pkg, rel = "@aave/core-v3", f"{_AAVE}/protocol/libraries/logic/{name}.sol/{name}.json"
    elif name in _PATHS:
        pkg, rel = _PATHS[name]
    else:
        raise DevnetError(f"unknown artifact {name!r}")
    path = npm_package(pkg) / rel
    if not path.is_file():
        raise DevnetError(f"artifact {rel} missing from {pkg}: reinstall with `make setup`")
    data: Artifact = json.loads(path.read_text())
    return data


def abi(name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = load(name)["abi"]
    return result


def linked_bytecode(artifact: Artifact, libraries: dict[str, str]) -> str:
    """Splice library addresses into the placeholders hardhat left at `linkReferences` offsets."""
    code: str = artifact["bytecode"].removeprefix("0x")
    for _file, libs in artifact.get("linkReferences", {}).items():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise DevnetError(f"{artifact.get('contractName')} needs library {lib} deployed first")
            addr = libraries[lib].lower().removeprefix("0x")
            for ref in refs:
                start = ref["start"] * 2
                code = code[:start] + addr + code[start + ref["length"] * 2 :]
    return "0x" + code
