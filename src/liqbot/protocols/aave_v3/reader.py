"""Read an Aave V3 market and its users from the chain, given only the PoolAddressesProvider.

Everything at one pinned block, in Multicall3 batches: the cost grows with the number of users only here,
at startup (and for the rare user whose stable debt moved), never per block."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import to_checksum_address

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.core.errors import StopError
from liqbot.protocols.aave_v3.liquidation import AaveRevision
from liqbot.protocols.aave_v3.math import EModeCategory
from liqbot.protocols.aave_v3.reserve import ReserveConfig, ReserveState, StableDebt
from liqbot.protocols.aave_v3.state import AaveState, ReserveMeta, UserState

ZERO = "0x0000000000000000000000000000000000000000"


# POOL_REVISION → liquidation rule set. Only revisions whose rules we implement and test are listed: an
# unknown revision stops the adapter (fail closed) instead of guessing.
REVISIONS = {1: AaveRevision.V3_0, 2: AaveRevision.V3_0, 3: AaveRevision.V3_0}


def revision_of(pool_revision: int) -> AaveRevision:
    rule = REVISIONS.get(pool_revision)
    if rule is None:
        known = ", ".join(str(k) for k in sorted(REVISIONS))
        raise StopError(
            f"Aave pool revision {pool_revision} is not supported (known: {known}); disable aave_v3"
        )
    return rule


async def _one(client: ChainClient, to: str, contract: str, name: str, block: int, *args: object) -> object:
    f = fn(contract, name)
    return f.decode_one(await client.eth_call(to, f.encode(*args), block))


async def _many(
    client: ChainClient, calls: Sequence[tuple[str, str, str, tuple[object, ...]]], block: int
) -> list:  # type: ignore[type-arg]
    """Batch (to, contract, function, args) through Multicall3; a failed call raises StopError."""
    fns = [fn(c, n) for _, c, n, _ in calls]
    raw = await client.multicall(
        [(to, f.encode(*args)) for (to, _, _, args), f in zip(calls, fns, strict=True)], block
    )
    out = []
    for (to, _, name, _), f, (ok, data) in zip(calls, fns, raw, strict=True):
        if not ok:
            raise StopError(f"{name} on {to} reverted at block {block}: is this an Aave V3 market?")
        out.append(f.decode(data))
    return out


async def load_market(client: ChainClient, provider: str, block: int) -> tuple[AaveState, dict[str, str]]:
    """The pool's static and dynamic data; returns the state and the provider's component addresses."""
    pool, oracle, data_provider, configurator, sentinel = (
        to_checksum_address(str(r[0]))
        for r in await _many(
            client,
            [
                (provider, "PoolAddressesProvider", n, ())
                for n in (
                    "getPool",
                    "getPriceOracle",
                    "getPoolDataProvider",
                    "getPoolConfigurator",
                    "getPriceOracleSentinel",
                )
            ],
            block,
        )
    )
    assets = [to_checksum_address(a) for a in await _one(client, pool, "Pool", "getReservesList", block)]  # type: ignore[attr-defined]
    revision = int(await _one(client, pool, "Pool", "POOL_REVISION", block))  # type: ignore[call-overload]
    premium = int(await _one(client, pool, "Pool", "FLASHLOAN_PREMIUM_TOTAL", block))  # type: ignore[call-overload]
    calls = [(pool, "Pool", "getReserveData", (a,)) for a in assets]
    calls += [(oracle, "AaveOracle", "getSourceOfAsset", (a,)) for a in assets]
    calls += [(oracle, "AaveOracle", "getAssetPrice", (a,)) for a in assets]
    res = await _many(client, calls, block)
    n = len(assets)
    reserves, states, prices = {}, {}, {}
    for i, asset in enumerate(assets):
        (d,) = res[i]
        cfg = ReserveConfig.decode(d[0][0])
        rid = int(d[7])
        reserves[rid] = ReserveMeta(
            rid,
            asset,
            to_checksum_address(d[8]),
            to_checksum_address(d[9]),
            to_checksum_address(d[10]),
            to_checksum_address(res[n + i][0]),
        )
        states[rid] = ReserveState(rid, cfg, d[1], d[2], d[3], d[4], d[5], d[6])
        prices[rid] = int(res[2 * n + i][0])
    emode, emode_sources = await _load_emode(
        client, pool, oracle, {s.configuration.emode_category for s in states.values()}, block
    )
    state = AaveState(pool, revision_of(revision), reserves, states, prices, emode, emode_sources)
    state.flash_premium_bps = premium
    parts: dict[str, str] = {
        "pool": pool,
        "oracle": oracle,
        "data_provider": data_provider,
        "configurator": configurator,
        "sentinel": sentinel,
        "provider": to_checksum_address(provider),
    }
    return state, parts


async def _load_emode(
    client: ChainClient, pool: str, oracle: str, categories: set[int], block: int
) -> tuple[dict[int, EModeCategory], dict[int, str]]:
    cats = sorted(c for c in categories if c)
    if not cats:
        return {}, {}
    rows = await _many(client, [(pool, "Pool", "getEModeCategoryData", (c,)) for c in cats], block)
    out: dict[int, EModeCategory] = {}
    sources: dict[int, str] = {}
    for c, (row,) in zip(cats, rows, strict=True):
        ltv, lt, bonus, source, _label = row
        price = None
        if int(source, 16) != 0:
            sources[c] = to_checksum_address(source)
            price = int(await _one(client, oracle, "AaveOracle", "getAssetPrice", block, source))  # type: ignore[call-overload]
        out[c] = EModeCategory(ltv, lt, bonus, price)
    return out, sources


async def load_users(client: ChainClient, state: AaveState, users: Sequence[str], block: int) -> None:
    """Read each user's configuration, eMode and scaled balances at `block` into `state`."""
    pool = state.pool
    head = await _many(
        client,
        [(pool, "Pool", n, (u,)) for u in users for n in ("getUserConfiguration", "getUserEMode")],
        block,
    )
    calls: list[tuple[str, str, str, tuple[object, ...]]] = []
    plan: list[tuple[str, int, str]] = []
    for i, u in enumerate(users):
        data = int(head[2 * i][0][0])
        st = UserState(collateral_bits=data & _ODD_BITS, emode=int(head[2 * i + 1][0]))
        state.users[u] = st
        for rid, meta in state.reserves.items():
            if (data >> (rid << 1)) & 3 == 0:
                continue
            calls.append((meta.a_token, "AToken", "scaledBalanceOf", (u,)))
            plan.append((u, rid, "a"))
            calls.append((meta.variable_debt_token, "VariableDebtToken", "scaledBalanceOf", (u,)))
            plan.append((u, rid, "v"))
            if (data >> (rid << 1)) & 1:
                for name in ("principalBalanceOf", "getUserStableRate", "getUserLastUpdated"):
                    calls.append((meta.stable_debt_token, "StableDebtToken", name, (u,)))
                    plan.append((u, rid, "s"))
    res = await _many(client, calls, block)
    i = 0
    while i < len(plan):
        u, rid, kind = plan[i]
        st = state.users[u]
        if kind == "a":
            st.scaled_a[rid] = int(res[i][0])
        elif kind == "v":
            st.scaled_v[rid] = int(res[i][0])
        else:
            principal, rate, ts = (int(res[i + k][0]) for k in range(3))
            if principal:
                st.stable[rid] = StableDebt(principal, rate, ts)
            i += 2
        i += 1


_ODD_BITS = int("10" * 128, 2)
