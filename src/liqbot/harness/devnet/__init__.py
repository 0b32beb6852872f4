"""The local devnet: anvil plus the real Aave V3, Uniswap V3, Morpho Blue and Safe bytecode."""
