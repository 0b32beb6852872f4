"""liqbot: a liquidation engine for EVM lending markets."""

__version__ = "0.1.0"
