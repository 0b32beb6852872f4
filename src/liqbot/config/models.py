"""The validated configuration: frozen pydantic models, one per YAML section.

Field checks live on the fields; checks that span fields are the small `_validate_*` functions
at the bottom, run together so that every cross-field problem is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from eth_utils.address import is_checksum_address, is_checksum_formatted_address, to_checksum_address
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from liqbot.config.presets import PresetName
from liqbot.core.errors import ConfigError

__all__ = [
    "AaveV3Config",
    "AdaptiveConfig",
    "AutoTripConfig",
    "CapsConfig",
    "ChainConfig",
    "CompoundV3Config",
    "ConfigIssue",
    "ConfigIssuesError",
    "ContractsConfig",
    "EnvSignerConfig",
    "ExecutionConfig",
    "KeystoreSignerConfig",
    "KillSwitchConfig",
    "LiqbotConfig",
    "LogConfig",
    "MetricsConfig",
    "MorphoBlueConfig",
    "ProtocolsConfig",
    "SignerConfig",
    "ThresholdsConfig",
    "dotted",
]

_EXAMPLE_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _address(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an address such as {_EXAMPLE_ADDRESS}")
    text = value.strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", text):
        raise ValueError(f"not an address; expected 0x and 40 hex characters, e.g. {_EXAMPLE_ADDRESS}")
    # Mixed case is an EIP-55 checksum and must be right; all-lower or all-upper carries none.
    if is_checksum_formatted_address(text) and not is_checksum_address(text):
        raise ValueError("bad EIP-55 checksum (a typo?); copy the address again or write it all lowercase")
    return str(to_checksum_address(text))


def _market_id(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value.strip()):
        raise ValueError("not a Morpho market id; expected 0x and 64 hex characters")
    return value.strip().lower()


def _money(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError('expected a number such as "5" (quoted), not true/false')
    if isinstance(value, float):
        return Decimal(repr(value))  # repr round-trips the literal; no binary noise
    return value


def _whole(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true/false")
    return value


def _url(schemes: tuple[str, ...], example: str) -> Callable[[object], str]:
    expected = f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, e.g. {example}"

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(expected)
        try:
            parts = urlsplit(value.strip())
            ok = parts.scheme.lower() in schemes and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(expected)
        return value.strip()

    return check


Address = Annotated[str, BeforeValidator(_address)]
MarketId = Annotated[str, BeforeValidator(_market_id)]
Money = Annotated[Decimal, BeforeValidator(_money)]
Whole = Annotated[int, BeforeValidator(_whole)]
HttpUrl = Annotated[str, BeforeValidator(_url(("http", "https"), "http://127.0.0.1:8545"))]
WsUrl = Annotated[str, BeforeValidator(_url(("ws", "wss"), "ws://127.0.0.1:8546"))]
EnvName = Annotated[str, Field(pattern=_ENV_NAME.pattern, examples=["LIQBOT_SIGNER_KEY"])]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricsConfig(_Model):
    """Prometheus endpoint."""

    host: str = Field("127.0.0.1", description="Interface to bind.", examples=["127.0.0.1"])
    port: Whole = Field(9108, ge=1, le=65535, description="TCP port.", examples=[9108])


class LogConfig(_Model):
    """Logging."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", examples=["info"])
    json_output: bool = Field(False, alias="json", description="JSON lines instead of pretty text.")


class ContractsConfig(_Model):
    """Helper contracts on a chain; presets fill them."""

    multicall3: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    uniswap_v3_swap_router: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    uniswap_v3_swap_router_kind: Literal["v1", "02"] = Field(
        "v1", description="v1 = SwapRouter (deadline in params), 02 = SwapRouter02 (no deadline)."
    )
    uniswap_v3_quoter_v2: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    uniswap_v3_factory: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    op_gas_price_oracle: Address | None = Field(None, description="OP-stack L1 data fee oracle.")
    arb_node_interface: Address | None = Field(None, description="Arbitrum NodeInterface (RPC only).")
    wrapped_native: Address | None = Field(
        None, description="Wrapped gas token (WETH, WPOL): its price values gas.", examples=[_EXAMPLE_ADDRESS]
    )


class AaveV3Config(_Model):
    enabled: bool = True
    pool_addresses_provider: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    start_block: Whole = Field(0, ge=0, examples=[0])


class MorphoBlueConfig(_Model):
    enabled: bool = True
    morpho: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    start_block: Whole = Field(0, ge=0, examples=[0])
    markets: tuple[MarketId, ...] = Field((), description="Market ids to watch; empty means all.")
    price_feeds: dict[Address, Address] = Field(
        {},
        description="token → Chainlink-style USD feed, for tokens no other market on the chain prices "
        "(Morpho oracles give only collateral/loan ratios; an unpriced token is skipped, never guessed).",
    )


class CompoundV3Config(_Model):
    enabled: bool = True
    comets: tuple[Address, ...] = Field((), examples=[f"[{_EXAMPLE_ADDRESS}]"])
    start_block: Whole = Field(0, ge=0, examples=[0])


class ProtocolsConfig(_Model):
    """Lending protocols watched on a chain. A protocol not written here is off."""

    aave_v3: AaveV3Config = AaveV3Config(enabled=False)
    morpho_blue: MorphoBlueConfig = MorphoBlueConfig(enabled=False)
    compound_v3: CompoundV3Config = CompoundV3Config(enabled=False)

    def enabled_names(self) -> tuple[str, ...]:
        return tuple(name for name in type(self).model_fields if getattr(self, name).enabled)


class ChainConfig(_Model):
    """One chain: endpoints, L2 kind, helper contracts and protocols."""

    name: str = Field(pattern=r"^[a-z0-9-]+$", max_length=32, examples=["mainnet"])
    enabled: bool = True
    preset: PresetName | None = Field(
        None, description="Fill public addresses for this chain.", examples=["ethereum"]
    )
    chain_id: Whole = Field(gt=0, examples=[1])
    rpc_http: tuple[HttpUrl, ...] = Field(min_length=1, examples=['["${LIQBOT_RPC_MAINNET}"]'])
    rpc_ws: tuple[WsUrl, ...] = Field((), examples=['["${LIQBOT_WS_MAINNET}"]'])
    private_relay: HttpUrl | None = Field(None, examples=["https://rpc.flashbots.net"])
    block_time_s: float = Field(12.0, gt=0, le=3600, examples=[12.0])
    confirmations: Whole = Field(2, ge=0, le=1000, examples=[2])
    l2: Literal["none", "op-stack", "arbitrum"] = Field("none", examples=["op-stack"])
    sequencer_uptime_feed: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    sequencer_grace_period_s: Whole = Field(3600, ge=0, examples=[3600])
    contracts: ContractsConfig = ContractsConfig()
    protocols: ProtocolsConfig = ProtocolsConfig()
    executor: Address | None = Field(None, examples=[_EXAMPLE_ADDRESS])
    rpc_timeout_s: float = Field(
        15.0, gt=0, le=300, examples=[5.0],
        description="Seconds one HTTP endpoint has to answer a call before the call moves to the next one.",
    )  # fmt: skip
    rpc_max_lag_blocks: Whole = Field(
        3, ge=0, le=10_000, examples=[3],
        description="An endpoint whose head is more blocks than this behind the best endpoint's is skipped.",
    )  # fmt: skip
    rpc_stall_blocks: Whole = Field(
        3, ge=1, le=10_000, examples=[3],
        description="An endpoint behind the best head with no new head for this many block times is skipped.",
    )  # fmt: skip
    rpc_bench_max_s: float = Field(
        60.0, gt=0, le=3600, examples=[60.0],
        description="Longest pause before a failing endpoint is probed again (it starts at 1 s and doubles).",
    )  # fmt: skip


class EnvSignerConfig(_Model):
    """The private key is read from an environment variable."""

    source: Literal["env"]
    env_var: EnvName = "LIQBOT_SIGNER_KEY"


class KeystoreSignerConfig(_Model):
    """The private key is decrypted from an Ethereum keystore (JSON) file."""

    source: Literal["keystore"]
    path: Path = Field(examples=["keys/bot.json"])
    password_env: EnvName = "LIQBOT_KEYSTORE_PASSWORD"  # noqa: S105 -- a variable name, not a password


SignerConfig = Annotated[EnvSignerConfig | KeystoreSignerConfig, Field(discriminator="source")]


class ExecutionConfig(_Model):
    mode: Literal["shadow", "funds", "flash"] = "shadow"
    signer: SignerConfig | None = None
    extra_signers: tuple[SignerConfig, ...] = Field(
        (), description="More signer lanes per chain, so one stuck transaction never blocks the others."
    )
    treasury: Address | None = Field(None, description="Safe that receives profits.")
    profit_to_treasury: bool = Field(False, description="Send each liquidation's profit to the treasury.")
    slippage_bps: Whole = Field(50, ge=0, le=2_000, description="Swap floor below the quote, in bps.")
    stop_file: Path | None = Field(None, description="While this file exists nothing is sent (kill switch).")


Share = Annotated[Money, Field(ge=0, le=1)]
NonNegMoney = Annotated[Money, Field(ge=0)]


class AdaptiveConfig(_Model):
    """Adaptive thresholds: the min profit and the gas bid share of each chain × protocol follow its recent
    sent attempts, within these bounds (see strategy/adaptive.py and docs/configuration.md)."""

    enabled: bool = Field(True, description="Off: the static thresholds always apply.")
    min_profit_usd_bounds: tuple[NonNegMoney, NonNegMoney] | None = Field(
        None,
        description="[lo, hi] for the adapted min profit; default [min_profit_usd, 10 × min_profit_usd].",
        examples=['["5", "50"]'],
    )
    priority_fee_profit_share_bounds: tuple[Share, Share] | None = Field(
        None,
        description="[lo, hi] for the adapted gas bid share; default [share, min(1, 3 × share)].",
        examples=['["0.2", "0.6"]'],
    )
    min_profit_step_usd: Money = Field(Decimal("2"), gt=0, description="Largest min-profit move per update.")
    priority_fee_profit_share_step: Money = Field(
        Decimal("0.05"), gt=0, le=1, description="Largest gas-share move per update."
    )
    window_attempts: Whole = Field(50, ge=1, description="Newest sent attempts looked at.")
    window_hours: Whole = Field(24, ge=1, description="Attempts older than this are not looked at.")
    min_sample: Whole = Field(10, ge=1, description="Fewer sent attempts in the window: no change.")
    update_every_blocks: Whole = Field(10, ge=1, description="Recompute this often (and at start).")
    revert_rate_max: Share = Field(Decimal("0.1"), description="More reverts than this: raise min profit.")
    lost_race_rate_max: Share = Field(
        Decimal("0.3"), description="More lost races than this (few reverts): raise the gas share."
    )
    hit_rate_min: Share = Field(Decimal("0.7"), description="At least this many included: ease back.")
    profit_tolerance: Share = Field(
        Decimal("0.1"), description="Realized within this share of expected counts as on target."
    )
    gas_tolerance: NonNegMoney = Field(
        Decimal("0.25"), description="Gas spent above expected by more than this share: raise min profit."
    )


class ThresholdsConfig(_Model):
    min_profit_usd: Money = Field(Decimal("5"), ge=0, examples=['"5"'])
    max_gas_price_gwei: Money = Field(Decimal("500"), gt=0, examples=['"500"'])
    priority_fee_profit_share: Money = Field(Decimal("0.2"), ge=0, le=1, examples=['"0.2"'])
    max_price_age_s: Whole = Field(
        90_000, gt=0, description="Oldest acceptable price feed update (Chainlink heartbeats reach 24 h)."
    )
    adaptive: AdaptiveConfig = AdaptiveConfig()

    def min_profit_bounds(self) -> tuple[Decimal, Decimal]:
        b = self.adaptive.min_profit_usd_bounds
        return b if b is not None else (self.min_profit_usd, self.min_profit_usd * 10)

    def gas_share_bounds(self) -> tuple[Decimal, Decimal]:
        b = self.adaptive.priority_fee_profit_share_bounds
        share = self.priority_fee_profit_share
        return b if b is not None else (share, min(Decimal(1), share * 3))


class CapsConfig(_Model):
    max_notional_usd_per_attempt: Money = Field(Decimal("250000"), gt=0, examples=['"250000"'])
    max_daily_gas_usd: Money = Field(Decimal("500"), ge=0, examples=['"500"'])
    max_attempts_per_borrower_per_hour: Whole = Field(3, ge=1, examples=[3])
    max_inflight_per_chain: Whole = Field(4, ge=1, examples=[4])
    max_live_executions_per_session: Whole = Field(
        200, ge=1, description="Sends one run of the bot may start, over every chain.", examples=[200]
    )
    max_notional_usd_per_session: Money = Field(
        Decimal("2500000"),
        gt=0,
        description="Repaid debt (USD) one run of the bot may send, over every chain.",
        examples=['"2500000"'],
    )
    max_notional_usd_per_day: Money = Field(
        Decimal("1000000"),
        gt=0,
        description="Repaid debt (USD) sent on a chain in the last 24 hours, by every instance.",
        examples=['"1000000"'],
    )


class AutoTripConfig(_Model):
    """Rules that engage a chain's kill switch by themselves (actor `auto:<rule>`); only a person releases
    it. Lost races and skips are never failures. Rules look only at attempts decided after the chain's
    switch was last released."""

    enabled: bool = Field(True, description="Evaluate the rules after every live attempt ends.")
    window_s: Whole = Field(
        3600, ge=60, description="Rolling window of the revert-rate rule.", examples=[3600]
    )
    min_sample: Whole = Field(
        10, ge=1, description="Sends that ended on chain in the window before the rate counts.", examples=[10]
    )
    max_revert_rate: Money = Field(
        Decimal("0.5"), gt=0, le=1, description="Trip above this share of reverts.", examples=['"0.5"']
    )
    max_consecutive_reverts: Whole = Field(
        3, ge=1, description="Trip at this many reverts in a row (lost races left out).", examples=[3]
    )
    loss_window_s: Whole = Field(
        86400, ge=60, description="Rolling window of the loss and gas rules.", examples=[86400]
    )
    max_realized_loss_usd: Money = Field(
        Decimal("250"),
        ge=0,
        description="Trip when realized profit minus gas spent falls below minus this.",
        examples=['"250"'],
    )
    max_gas_spent_usd: Money = Field(
        Decimal("1000"),
        ge=0,
        description="Trip when gas spent in the window exceeds this.",
        examples=['"1000"'],
    )
    trip_on_flash_repay_failure: bool = Field(
        True, description="Trip at once when a flash loan could not be paid back."
    )


class KillSwitchConfig(_Model):
    """The kill switch's automatic side (manual engage/release: `liqbot kill-switch`)."""

    auto_trip: AutoTripConfig = AutoTripConfig()


class ConfigIssue(BaseModel):
    """A cross-field problem: where it is (a path into the document) and what would be valid."""

    model_config = ConfigDict(frozen=True)

    path: tuple[str | int, ...]
    message: str


class ConfigIssuesError(ConfigError):
    """Cross-field checks failed. The loader adds file and line to each issue."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{dotted(i.path)}: {i.message}" for i in issues))


def dotted(path: tuple[Any, ...]) -> str:
    """`("chains", 0, "rpc_http")` -> `chains[0].rpc_http`."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class LiqbotConfig(_Model):
    """The whole configuration. Build it with `liqbot.config.load_config`."""

    database_url: str = Field("sqlite:///liqbot.db", min_length=1, examples=["sqlite:///liqbot.db"])
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    chains: tuple[ChainConfig, ...] = Field(
        min_length=1, examples=['[{name: mainnet, preset: ethereum, rpc_http: ["${LIQBOT_RPC_MAINNET}"]}]']
    )
    execution: ExecutionConfig = ExecutionConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    caps: CapsConfig = CapsConfig()
    kill_switch: KillSwitchConfig = KillSwitchConfig()
    deny_assets: tuple[Address, ...] = Field((), description="Never liquidated, as collateral or debt.")

    def chain(self, name: str) -> ChainConfig:
        for chain in self.chains:
            if chain.name == name:
                return chain
        known = ", ".join(c.name for c in self.chains)
        raise ConfigError(f"no chain named {name!r} in the config; configured chains: {known}")

    @model_validator(mode="after")
    def _cross_field(self) -> LiqbotConfig:
        issues = [issue for check in _CHECKS for issue in check(self)]
        if issues:
            raise ConfigIssuesError(issues)
        return self


def _duplicates(values: list[object]) -> list[int]:
    seen: set[object] = set()
    dups = []
    for index, value in enumerate(values):
        if value in seen:
            dups.append(index)
        seen.add(value)
    return dups


def _validate_unique_chains(cfg: LiqbotConfig) -> list[ConfigIssue]:
    names = [c.name for c in cfg.chains]
    ids = [c.chain_id for c in cfg.chains]
    issues = [
        ConfigIssue(
            path=("chains", i, "name"), message=f"chain name {names[i]!r} is used twice; names must be unique"
        )
        for i in _duplicates(list(names))
    ]
    issues += [
        ConfigIssue(
            path=("chains", i, "chain_id"), message=f"chain_id {ids[i]} is used twice; one entry per chain"
        )
        for i in _duplicates(list(ids))
    ]
    return issues


def _validate_sequencer_feed(cfg: LiqbotConfig) -> list[ConfigIssue]:
    return [
        ConfigIssue(
            path=("chains", i, "sequencer_uptime_feed"),
            message=f"required when l2 is {c.l2!r}: the Chainlink L2 sequencer uptime feed address "
            "(use preset: arbitrum|optimism|base, or set it; l2: none turns the check off)",
        )
        for i, c in enumerate(cfg.chains)
        if c.l2 != "none" and c.sequencer_uptime_feed is None
    ]


def _validate_protocol_addresses(cfg: LiqbotConfig) -> list[ConfigIssue]:
    issues = []
    for i, c in enumerate(cfg.chains):
        base = ("chains", i, "protocols")
        p = c.protocols
        if p.aave_v3.enabled and p.aave_v3.pool_addresses_provider is None:
            issues.append(ConfigIssue(path=(*base, "aave_v3", "pool_addresses_provider"), message=_NEED_ADDR))
        if p.morpho_blue.enabled and p.morpho_blue.morpho is None:
            issues.append(ConfigIssue(path=(*base, "morpho_blue", "morpho"), message=_NEED_ADDR))
        if p.compound_v3.enabled and not p.compound_v3.comets:
            issues.append(
                ConfigIssue(
                    path=(*base, "compound_v3", "comets"),
                    message=f"needs at least one Comet address when enabled, e.g. [{_EXAMPLE_ADDRESS}]",
                )
            )
    return issues


_NEED_ADDR = f"required when the protocol is enabled (or set enabled: false), e.g. {_EXAMPLE_ADDRESS}"


def _validate_execution(cfg: LiqbotConfig) -> list[ConfigIssue]:
    mode = cfg.execution.mode
    if mode == "shadow":
        return []
    issues = []
    if cfg.execution.signer is None:
        issues.append(
            ConfigIssue(
                path=("execution", "signer"),
                message=f"mode {mode!r} sends transactions and needs a signer, e.g. "
                "signer: {source: env, env_var: LIQBOT_SIGNER_KEY} (or mode: shadow)",
            )
        )
    issues += [
        ConfigIssue(
            path=("chains", i, "executor"),
            message=f"mode {mode!r} needs the liqbot executor contract address on this chain "
            f"(or enabled: false for the chain), e.g. {_EXAMPLE_ADDRESS}",
        )
        for i, c in enumerate(cfg.chains)
        if c.enabled and c.executor is None
    ]
    return issues


def _validate_adaptive(cfg: LiqbotConfig) -> list[ConfigIssue]:
    t, a = cfg.thresholds, cfg.thresholds.adaptive
    base = ("thresholds", "adaptive")
    issues = []
    for field, bounds, static, name in (
        ("min_profit_usd_bounds", a.min_profit_usd_bounds, t.min_profit_usd, "min_profit_usd"),
        (
            "priority_fee_profit_share_bounds",
            a.priority_fee_profit_share_bounds,
            t.priority_fee_profit_share,
            "priority_fee_profit_share",
        ),
    ):
        if bounds is None:
            continue
        lo, hi = bounds
        if lo > hi:
            issues.append(
                ConfigIssue(path=(*base, field), message=f"[lo, hi] with lo {lo} above hi {hi}; swap them")
            )
        elif not lo <= static <= hi:
            issues.append(
                ConfigIssue(
                    path=(*base, field),
                    message=f"must contain the static thresholds.{name} ({static}), the fallback value; "
                    f'e.g. ["{min(lo, static)}", "{max(hi, static)}"]',
                )
            )
    if a.min_sample > a.window_attempts:
        issues.append(
            ConfigIssue(
                path=(*base, "min_sample"),
                message=f"{a.min_sample} is more than window_attempts ({a.window_attempts}), so nothing "
                f"would ever adapt; use at most {a.window_attempts}",
            )
        )
    return issues


_CHECKS: tuple[Callable[[LiqbotConfig], list[ConfigIssue]], ...] = (
    _validate_unique_chains,
    _validate_sequencer_feed,
    _validate_protocol_addresses,
    _validate_execution,
    _validate_adaptive,
)
