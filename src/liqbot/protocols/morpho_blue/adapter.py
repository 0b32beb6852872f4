"""The Morpho Blue adapter: exact local state (sync.py) + a float screen (strategy/screener.py) + exact
confirmation and the largest liquidation `liquidate` accepts (math.py).

One adapter per Morpho contract, covering the configured markets (or all of them). A position is one
(market id, account) pair; the engine sees accounts, and `options()` returns one option per market in
which the account is liquidatable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
from eth_utils import to_checksum_address

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.contracts import topic
from liqbot.core.errors import SkipError
from liqbot.core.fixed import VIRTUAL_ASSETS, VIRTUAL_SHARES, WAD
from liqbot.core.types import LiquidationOption, Skip, SkipReason
from liqbot.protocols.base import Advance, Progress, ProtocolAdapter
from liqbot.protocols.morpho_blue.math import (
    ORACLE_PRICE_SCALE,
    ZERO_ADDRESS,
    health_factor,
    liquidate,
    max_seized_assets,
)
from liqbot.protocols.morpho_blue.state import MorphoState, Pair
from liqbot.protocols.morpho_blue.sync import MorphoSync
from liqbot.strategy.screener import Screener

# Screen model per market i (three screener assets): collateral on asset 3i with factor price·LLTV/1e36/1e18,
# borrow shares on 3i+1 with factor (totalBorrowAssets+1)/(totalBorrowShares+1e6), and a constant 3 on 3i+2.
# _isHealthy truncates maxBorrow twice (< 2 units lost) and rounds borrowed up (< 1 unit added), so a
# position the contract calls unhealthy always has collateral value < debt + 3 units: the constant makes
# the screen a superset of the exact answer for any size, and the threshold covers float error.
ROUNDING_SLACK = 3.0
SCREEN_THRESHOLD = 1.0 + 1e-9


T_LIQUIDATE = topic("Morpho", "Liquidate")


class MorphoBlueAdapter(ProtocolAdapter):
    protocol = "morpho_blue"
    finished = True

    def __init__(
        self,
        client: ChainClient,
        morpho: str,
        markets: Iterable[str] = (),
        *,
        deploy_block: int = 0,
        block_time_s: float = 12.0,
        price_sources: Mapping[str, str] | None = None,
    ) -> None:
        """`markets`: ids to watch (empty: all); `deploy_block`: where CreateMarket discovery starts on a
        resume; `price_sources`: token → USD feed, for the tokens the engine knows one for."""
        super().__init__()
        self.client = client
        self.sync = MorphoSync(client, str(to_checksum_address(morpho)), tuple(markets), deploy_block)
        self.block_time_s = block_time_s
        self.price_sources = {
            str(to_checksum_address(t)): str(to_checksum_address(s)) for t, s in (price_sources or {}).items()
        }
        self.screener: Screener | None = None
        self._slot: dict[str, int] = {}  # market id → i (screener assets 3i, 3i+1, 3i+2)

    # --- interface --------------------------------------------------------------------------------------
    @property
    def state(self) -> MorphoState:
        if self.sync.state is None:
            raise RuntimeError("bootstrap() first")
        return self.sync.state

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def market_id(self) -> str:
        """The Morpho contract (one cursor stream for all its markets); each option names its market id."""
        return self.sync.morpho

    @property
    def block(self) -> int:
        return self.state.block

    @property
    def flash_premium_bps(self) -> int:
        return 0  # liquidate's onMorphoLiquidate callback pays after the collateral arrives: no loan needed

    def watched_addresses(self) -> list[str]:
        return self.sync.watched_addresses()

    def accounts(self) -> set[str]:
        return self.state.users()

    def assets(self) -> dict[str, tuple[int, str]]:
        """Morpho oracles price collateral in loan token, not USD: the source is the configured USD feed,
        or the zero address (unknown: the engine must price the token elsewhere or skip it)."""
        st = self.state
        return {t: (d, self.price_sources.get(t, ZERO_ADDRESS)) for t, d in st.decimals.items()}

    async def bootstrap(
        self, start_block: int, to_block: int, known_accounts: Iterable[str], progress: Progress | None
    ) -> None:
        await self.sync.bootstrap(start_block, to_block, known_accounts, progress)
        self._build_screen()

    async def advance(self, to_block: int, logs: list[dict[str, Any]]) -> Advance:
        before = dict(self.state.prices)
        changed = await self.sync.advance(to_block, logs)
        st = self.state
        if set(st.markets) != set(self._slot):
            self._build_screen()  # a market was created: the screen's asset axis grows
        else:
            sc = self._screen()
            for pair in changed:
                self._load(sc, pair)
        repriced: set[str] = set()
        for mid in st.markets:
            if before.get(mid) != st.prices.get(mid):
                repriced |= {st.params[mid].collateral_token, st.params[mid].loan_token}
        # Interest moves every borrower a little each block: the factors change, so screen everything.
        sc = self._screen()
        self._set_factors(sc)
        liquidatable: dict[str, int] = {}
        for idx in sc.screen(SCREEN_THRESHOLD):
            pair = cast(Pair, sc.key_of(int(idx)))
            hf = st.health(pair)
            if hf is not None and hf < WAD:
                liquidatable[pair[1]] = min(hf, liquidatable.get(pair[1], hf))
        return Advance({u for _, u in changed}, repriced - {ZERO_ADDRESS}, liquidatable)

    def options(self, borrower: str, *, sentinel_allows: bool | None) -> list[LiquidationOption] | Skip:
        """The largest seizure `liquidate(seizedAssets, 0)` accepts in the next block, per market.

        `sentinel_allows` is ignored: Morpho Blue has no sequencer sentinel."""
        del sentinel_allows
        st = self.state
        ts = st.timestamp + max(1, int(self.block_time_s))  # the liquidation lands in the next block
        out: list[LiquidationOption] = []
        last = Skip(SkipReason.NOT_LIQUIDATABLE, f"{borrower} has no debt on a watched Morpho market")
        for mid in sorted(st.markets):
            if (mid, borrower) in st.positions and st.positions[(mid, borrower)].borrow_shares:
                got = self._option((mid, borrower), ts)
                if isinstance(got, Skip):
                    last = got
                else:
                    out.append(got)
        return out or last

    def liquidations(self, logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
        """Liquidate(id indexed, caller indexed, borrower indexed, ...) events of this Morpho."""
        me = self.market_id.lower()
        out: list[tuple[str, int, str]] = []
        for x in logs:
            t = x.get("topics") or []
            if str(x["address"]).lower() == me and len(t) > 3 and str(t[0]).lower() == T_LIQUIDATE:
                out.append(
                    (
                        str(to_checksum_address("0x" + str(t[3])[-40:])),
                        int(x["blockNumber"], 16),
                        str(x["transactionHash"]),
                    )
                )
        return out

    def liquidation_call(self, option: LiquidationOption, receiver: str) -> tuple[str, bytes]:
        del receiver  # liquidate pays msg.sender
        params = self.state.params[option.market]
        pos = self.state.position((option.market, option.borrower))
        seized, shares = option.collateral_to_liquidator, 0
        if seized < pos.collateral:
            # Debt-limited: the largest seizure sits on the edge where repaid shares reach the borrower's
            # shares, and a block of interest or a tick of price tips it into an underflow revert. Repaying
            # exactly the borrower's shares lets Morpho derive the seizure itself and never overshoots.
            seized, shares = 0, pos.borrow_shares
        data = fn("Morpho", "liquidate").encode(params.as_tuple(), option.borrower, seized, shares, b"")
        return self.sync.morpho, data

    # --- one position ---------------------------------------------------------------------------------
    def _option(self, pair: Pair, ts: int) -> LiquidationOption | Skip:
        st = self.state
        mid, borrower = pair
        params, pos = st.params[mid], st.position(pair)
        price, market = st.prices.get(mid), st.accrued(mid, ts)
        if price is None or market is None:
            what = "oracle price()" if price is None else "IRM borrowRateView()"
            return Skip(SkipReason.NO_PRICE, f"market {mid}: {what} reverted")
        c_dec, d_dec = st.decimals.get(params.collateral_token), st.decimals.get(params.loan_token)
        if c_dec is None or d_dec is None:
            return Skip(SkipReason.UNKNOWN_TOKEN, f"market {mid}: a token has no decimals()")
        try:
            hf = health_factor(pos, market, price, params.lltv)
            if hf >= WAD:
                return Skip(SkipReason.NOT_LIQUIDATABLE, f"market {mid}: HF {hf / WAD:.6f} at next block")
            if pos.collateral == 0:
                return Skip(SkipReason.BAD_DEBT, f"market {mid}: no collateral left to seize")
            seized = max_seized_assets(market, pos, price, params.lltv)
            if seized == 0:
                return Skip(SkipReason.DUST, f"market {mid}: the debt buys less than one unit of collateral")
            liq = liquidate(market, pos, price, params.lltv, seized, 0)
        except SkipError as exc:  # Morpho's math would revert (overflow): so would the liquidation
            return Skip(SkipReason.NOT_LIQUIDATABLE, f"market {mid}: {exc}")
        return LiquidationOption(
            chain_id=self.client.chain_id,
            protocol=self.protocol,
            market=mid,
            borrower=borrower,
            collateral_asset=params.collateral_token,
            debt_asset=params.loan_token,
            debt_to_cover=liq.repaid_assets,
            collateral_to_liquidator=liq.seized_assets,
            protocol_fee=0,
            health_factor=hf,
            block=st.block,
            collateral_price=0,  # Morpho's oracle has no USD price; the strategy reads USD from its feeds
            debt_price=0,
            collateral_decimals=c_dec,
            debt_decimals=d_dec,
        )

    # --- the screen ---------------------------------------------------------------------------------------
    def _screen(self) -> Screener:
        if self.screener is None:
            raise RuntimeError("bootstrap() first")
        return self.screener

    def _build_screen(self) -> None:
        st = self.state
        self._slot = {mid: i for i, mid in enumerate(sorted(st.markets))}
        keys = sorted(st.positions)
        sc = Screener(3 * max(1, len(self._slot)), 1, capacity=max(1024, 2 * len(keys)))
        coll: list[tuple[int, int, float]] = []  # (position, asset, amount)
        debt: list[tuple[int, int, float]] = []
        for n, pair in enumerate(keys):
            i, p = self._slot[pair[0]], st.positions[pair]
            if p.collateral:
                coll.append((n, 3 * i, float(p.collateral)))
            if p.borrow_shares:
                debt += [(n, 3 * i + 1, float(p.borrow_shares)), (n, 3 * i + 2, ROUNDING_SLACK)]
        cp, ca, cx = zip(*coll, strict=True) if coll else ((), (), ())
        dp, da, dx = zip(*debt, strict=True) if debt else ((), (), ())
        sc.bulk_load(keys, 0, ca, cp, cx, da, dp, dx)
        self.screener = sc
        self._set_factors(sc)

    def _load(self, sc: Screener, pair: Pair) -> None:
        i, p = self._slot[pair[0]], self.state.position(pair)
        idx = sc.add_position(pair)
        sc.set_collateral(idx, 3 * i, float(p.collateral))
        sc.set_debt(idx, 3 * i + 1, float(p.borrow_shares))
        sc.set_debt(idx, 3 * i + 2, ROUNDING_SLACK if p.borrow_shares else 0.0)

    def _set_factors(self, sc: Screener) -> None:
        """cf[3i] = price·LLTV (loan units per collateral unit); df[3i+1] = assets per borrow share, accrued
        to the state's block; df[3i+2] = 1 (the rounding slack is already in loan units)."""
        st = self.state
        cf = np.zeros((sc.n_assets, 1))
        df = np.zeros(sc.n_assets)
        for mid, i in self._slot.items():
            price, market = st.prices.get(mid), st.accrued(mid)
            if price is not None:
                cf[3 * i, 0] = price / ORACLE_PRICE_SCALE * (st.params[mid].lltv / WAD)
            if market is not None:
                df[3 * i + 1] = (market.total_borrow_assets + VIRTUAL_ASSETS) / (
                    market.total_borrow_shares + VIRTUAL_SHARES
                )
            df[3 * i + 2] = 1.0
        sc.set_collateral_factors(cf)
        sc.set_debt_factors(df)
