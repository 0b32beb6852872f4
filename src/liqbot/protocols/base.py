"""The one interface every lending protocol implements for the engine.

An adapter owns one market's local state: it syncs it (snapshot + events), says which positions are
liquidatable with the protocol's exact math, and turns a position into protocol-valid liquidation options
and calldata. It never prices, gates or sends: the strategy and executors do that."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from liqbot.core.errors import StopError
from liqbot.core.types import LiquidationOption, Skip

Progress = Callable[[int, int], None]


class AdapterDisabledError(StopError):
    """An unfinished adapter was asked to run: it fails closed instead of silently finding nothing."""


@dataclass
class Advance:
    """What one block did to the market: positions whose balances changed, assets whose price moved,
    and the positions the screen plus the exact math now call liquidatable."""

    changed: set[str] = field(default_factory=set)
    repriced: set[str] = field(default_factory=set)
    liquidatable: dict[str, int] = field(default_factory=dict)  # borrower → exact health factor (wad)


class ProtocolAdapter(ABC):
    protocol: ClassVar[str]
    finished: ClassVar[bool] = False  # flip only when the adapter is proven against real bytecode

    def __init__(self) -> None:
        if not self.finished:
            raise AdapterDisabledError(
                f"the {self.protocol} adapter is not finished and refuses to run: set "
                f"protocols.{self.protocol}.enabled: false in the config"
            )

    @property
    @abstractmethod
    def chain_id(self) -> int: ...

    @property
    @abstractmethod
    def market_id(self) -> str:
        """Pool address or market id: the `market` of attempts rows and the cursor's stream name."""

    @abstractmethod
    def watched_addresses(self) -> list[str]:
        """Every contract whose logs move this market's state."""

    @abstractmethod
    async def bootstrap(
        self, start_block: int, to_block: int, known_accounts: Iterable[str], progress: Progress | None
    ) -> None:
        """Discover accounts from logs in [start_block, to_block] and snapshot the state at to_block."""

    @abstractmethod
    async def advance(self, to_block: int, logs: list[dict[str, Any]]) -> Advance:
        """Apply the logs of (last block, to_block] and re-screen what they touched."""

    def screen_everyone_next(self) -> None:
        """The next `advance` screens every position, not only what its logs touched: a step cut short may
        have applied logs whose screening never ran. (Adapters that screen everyone each block ignore it.)"""
        return None

    @abstractmethod
    def accounts(self) -> set[str]:
        """Every account the adapter tracks (persisted so a restart need not rediscover them)."""

    @abstractmethod
    def options(self, borrower: str, *, sentinel_allows: bool | None) -> list[LiquidationOption] | Skip:
        """Protocol-valid (collateral, debt, amount) choices for a liquidatable borrower, or why none."""

    @abstractmethod
    def liquidation_call(self, option: LiquidationOption, receiver: str) -> tuple[str, bytes]:
        """(to, calldata) of the protocol's own liquidation call for `option` (used by simulation)."""

    @abstractmethod
    def assets(self) -> dict[str, tuple[int, str]]:
        """Every asset the market uses: address → (decimals, USD price source)."""

    @property
    @abstractmethod
    def flash_premium_bps(self) -> int:
        """Fee of the cheapest flash source this market offers for its own assets (0 for none/free)."""

    def liquidations(self, logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
        """(borrower, block, tx hash) of every liquidation of this market in `logs` (for reconciliation).

        Adapters override this; the default finds none, which leaves shadow rows unreconciled, not wrong."""
        del logs
        return []

    @property
    @abstractmethod
    def block(self) -> int:
        """The last block the state includes."""
