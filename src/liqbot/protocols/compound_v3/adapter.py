"""The Compound III adapter: disabled. It fails closed until it is proven against real Comet bytecode.

Constructing it raises AdapterDisabledError naming the config field to keep off. The methods below only
document the shape it will have; none of them does I/O yet. The math it will use (math.py, liquidation.py)
is done and tested against comet's own unit tests; what is missing is in docs/compound_v3.md.

How a liquidator earns on Compound III (two calls, one transaction through the executor contract):
1. `absorb(absorber, [borrower])`: the protocol takes all the borrower's collateral into its reserves and
   forgives the debt (credit = collateral value × liquidationFactor); the caller is paid nothing but
   liquidator points.
2. `buyCollateral(asset, minAmount, baseAmount, recipient)`: while reserves < targetReserves, anyone buys
   those reserves at the store-front discount storeFrontPriceFactor × (1 - liquidationFactor), then sells
   them on a DEX. The profit is the discount less swap cost, gas and any flash fee."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from liqbot.core.types import LiquidationOption, Skip
from liqbot.protocols.base import AdapterDisabledError, Advance, Progress, ProtocolAdapter

if TYPE_CHECKING:
    from liqbot.chain.client import ChainClient

DISABLED = (
    "the compound_v3 adapter is not proven against real Comet bytecode and refuses to run: keep "
    "protocols.compound_v3.enabled: false in the config (docs/compound_v3.md says what is missing)"
)


class CompoundV3Adapter(ProtocolAdapter):
    """One adapter per Comet (one base asset, up to 24 collaterals). A position is one account."""

    protocol = "compound_v3"
    finished = False  # flip only with an integration test against real Comet bytecode on the devnet

    def __init__(
        self, client: ChainClient, comet: str, *, deploy_block: int = 0, block_time_s: float = 12.0
    ) -> None:
        """`comet`: the Comet proxy; `deploy_block`: where account discovery starts on a fresh cursor."""
        if not self.finished:
            raise AdapterDisabledError(DISABLED)
        super().__init__()
        self.client, self.comet = client, comet
        self.deploy_block, self.block_time_s = deploy_block, block_time_s

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def market_id(self) -> str:
        """The Comet proxy address."""
        return self.comet

    def watched_addresses(self) -> list[str]:
        """The Comet proxy (Supply, Withdraw, Transfer, SupplyCollateral, WithdrawCollateral,
        TransferCollateral, AbsorbDebt, AbsorbCollateral, BuyCollateral) and every price feed of
        `getAssetInfo(i).priceFeed` and `baseTokenPriceFeed()`."""
        raise AdapterDisabledError(DISABLED)

    async def bootstrap(
        self, start_block: int, to_block: int, known_accounts: Iterable[str], progress: Progress | None
    ) -> None:
        """Read the immutables once (baseScale, the per-second rate getters, storeFrontPriceFactor,
        targetReserves, getAssetInfo(0..numAssets-1)); discover accounts from Supply/Withdraw/
        *Collateral logs; snapshot totalsBasic(), userBasic(a), userCollateral(a, asset) and the feeds at
        `to_block` by multicall."""
        raise AdapterDisabledError(DISABLED)

    async def advance(self, to_block: int, logs: list[dict[str, Any]]) -> Advance:
        """Re-read the accounts the logs touched (events carry present values, not principals, so an
        account is re-read rather than replayed); project the indices to the block time with
        `accrue` (Comet accrues lazily, without an event); re-screen with `is_liquidatable` on the
        accrued totals, which is what `absorb` checks."""
        raise AdapterDisabledError(DISABLED)

    def accounts(self) -> set[str]:
        """Every account with a principal or a collateral balance."""
        raise AdapterDisabledError(DISABLED)

    def options(self, borrower: str, *, sentinel_allows: bool | None) -> list[LiquidationOption] | Skip:
        """Per collateral: `absorb` of the borrower, then the largest `buyCollateral` of that asset the
        reserves allow (`max_base_for_collateral` of the collateral reserves after the absorb), or a Skip
        when reserves >= targetReserves (NotForSale). debt_to_cover = baseAmount paid,
        collateral_to_liquidator = quoteCollateral, protocol_fee = 0; Comet has no health factor."""
        raise AdapterDisabledError(DISABLED)

    def liquidation_call(self, option: LiquidationOption, receiver: str) -> tuple[str, bytes]:
        """(comet, calldata) of `absorb(receiver, [borrower])`. The buyCollateral that pays the liquidator
        is a second call the executor contract must make in the same transaction: the interface has room
        for one, which is one reason this adapter is not finished."""
        raise AdapterDisabledError(DISABLED)

    def assets(self) -> dict[str, tuple[int, str]]:
        """The base token and each collateral: (decimals, its Comet price feed, 8 decimals USD)."""
        raise AdapterDisabledError(DISABLED)

    @property
    def flash_premium_bps(self) -> int:
        """Comet has no flash loans: the base asset comes from another market's flash source."""
        raise AdapterDisabledError(DISABLED)

    def liquidations(self, logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
        """AbsorbDebt logs: (borrower, block, tx hash)."""
        raise AdapterDisabledError(DISABLED)

    @property
    def block(self) -> int:
        raise AdapterDisabledError(DISABLED)
