"""Regenerate src/liqbot/contracts/abi/*.json from the pinned npm packages (and Morpho's solc output).

The bot ships these ABIs so it runs without node_modules; tests/integration/test_abis.py checks they still
match the packages. Run: .venv/bin/python scripts/extract_abis.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liqbot.harness.devnet import artifacts, solc

OUT = Path(__file__).resolve().parents[1] / "src" / "liqbot" / "contracts" / "abi"
NPM = ("Pool", "AToken", "VariableDebtToken", "StableDebtToken", "PoolAddressesProvider", "AaveOracle",
       "AaveProtocolDataProvider", "QuoterV2", "SwapRouter", "MintableERC20", "SequencerOracle",
       "PriceOracleSentinel")  # fmt: skip


def build() -> dict[str, list[dict[str, Any]]]:
    out = {name: artifacts.abi(name) for name in NPM}
    morpho = solc.compile_morpho()
    # solc 0.8.19 leaves EventsLib's events out of Morpho's ABI: add them.
    out["Morpho"] = morpho["Morpho.sol:Morpho"]["abi"] + morpho["EventsLib.sol:EventsLib"]["abi"]
    out["MorphoOracle"] = morpho["OracleMock.sol:OracleMock"]["abi"]
    out["MorphoIrm"] = morpho["IrmMock.sol:IrmMock"]["abi"]
    own = solc.compile_devnet_contracts(Path(__file__).resolve().parents[1] / "contracts")
    out["Multicall3"] = own["Multicall3.sol:Multicall3"]["abi"]
    out["PriceFeed"] = own["PriceFeed.sol:PriceFeed"]["abi"]
    out["GasPriceOracle"] = own["GasPriceOracle.sol:GasPriceOracle"]["abi"]
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, abi in build().items():
        (OUT / f"{name}.json").write_text(json.dumps(abi, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(list(OUT.glob('*.json')))} ABIs to {OUT}")


if __name__ == "__main__":
    main()
