"""What the devnet market holds: tokens, prices, Aave reserve parameters, Uniswap pools, Morpho markets.

Reserve parameters follow Aave V3 Ethereum's listings (LTV / liquidation threshold / bonus in basis points,
bonus 10500 = 5%); the eMode category mirrors the stablecoin category on the L2 markets.
"""

from __future__ import annotations

from dataclasses import dataclass

FEED_DECIMALS = 8
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
OP_GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"  # OP-stack predeploy


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    decimals: int
    price: int  # USD with FEED_DECIMALS decimals
    ltv: int  # basis points
    liquidation_threshold: int
    liquidation_bonus: int
    reserve_factor: int
    whale_supply: int  # whole tokens the whale supplies to Aave so borrowers can borrow
    emode: int = 0


TOKENS: tuple[TokenSpec, ...] = (
    TokenSpec("WETH", 18, 3_000 * 10**8, 8000, 8250, 10500, 1500, 60_000),
    TokenSpec("USDC", 6, 1 * 10**8, 7700, 8000, 10450, 1000, 200_000_000, emode=1),
    TokenSpec("WBTC", 8, 60_000 * 10**8, 7300, 7800, 10500, 2000, 3_000),
    TokenSpec("DAI", 18, 1 * 10**8, 7500, 8000, 10500, 1000, 200_000_000, emode=1),
)
TOKEN_BY_SYMBOL = {t.symbol: t for t in TOKENS}

LIQUIDATION_PROTOCOL_FEE_BPS = 1000  # 10% of the bonus goes to the treasury, as on mainnet
FLASHLOAN_PREMIUM_TOTAL_BPS = 5  # 0.05%
FLASHLOAN_PREMIUM_TO_PROTOCOL_BPS = 4  # share of the premium kept by the protocol (in bps of the amount)


@dataclass(frozen=True)
class EModeSpec:
    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str


EMODE_CATEGORY = EModeSpec(1, 9300, 9500, 10100, "Stablecoins")

# Rate strategy (ray): 80% optimal usage, 0% base, 4% slope1, 60% slope2 — Aave's volatile-asset shape.
RAY = 10**27
RATE_STRATEGY = {
    "optimal_usage_ratio": 80 * RAY // 100,
    "base_variable_borrow_rate": 0,
    "variable_rate_slope1": 4 * RAY // 100,
    "variable_rate_slope2": 60 * RAY // 100,
    "stable_rate_slope1": 5 * RAY // 100,
    "stable_rate_slope2": 60 * RAY // 100,
    "base_stable_rate_offset": 2 * RAY // 100,
    "stable_rate_excess_offset": 5 * RAY // 100,
    "optimal_stable_to_total_debt_ratio": 20 * RAY // 100,
}

# Uniswap V3 pools (token A, token B, fee in hundredths of a bip) and the USD depth of each, full range.
POOLS: tuple[tuple[str, str, int], ...] = (
    ("WETH", "USDC", 500),
    ("WETH", "USDC", 3000),
    ("WETH", "DAI", 3000),
    ("WBTC", "USDC", 3000),
    ("WBTC", "WETH", 3000),
    ("WBTC", "DAI", 3000),
    ("DAI", "USDC", 100),
)
POOL_DEPTH_USD = 100_000_000

# Morpho Blue markets: (collateral, loan, LLTV in wad). LLTV 86% is one Morpho governance enabled.
WAD = 10**18
MORPHO_MARKETS: tuple[tuple[str, str, int], ...] = (("WETH", "USDC", 86 * WAD // 100),)
MORPHO_LENDER_SUPPLY = 100_000_000  # whole loan tokens supplied by the whale to each Morpho market
