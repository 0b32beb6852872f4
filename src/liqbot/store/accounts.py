"""Discovered accounts per detection stream (insert-only; a restart reloads them with the cursor)."""

from __future__ import annotations

from collections.abc import Iterable

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from liqbot.store.attempts import Store
from liqbot.store.models import TrackedAccountRow

_BATCH = 2_000


def add_accounts(store: Store, chain_id: int, stream: str, accounts: Iterable[str]) -> int:
    """Insert the accounts not yet stored; returns how many were given."""
    rows = [{"chain_id": chain_id, "stream": stream, "account": a.lower()} for a in accounts]
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    with store.engine.begin() as conn:
        for i in range(0, len(rows), _BATCH):
            stmt = dialect.insert(TrackedAccountRow).values(rows[i : i + _BATCH]).on_conflict_do_nothing()
            conn.execute(stmt)
    return len(rows)


def load_accounts(store: Store, chain_id: int, stream: str) -> list[str]:
    q = select(TrackedAccountRow.account).where(
        TrackedAccountRow.chain_id == chain_id, TrackedAccountRow.stream == stream
    )
    with store.engine.connect() as conn:
        return [to_checksum_address(a) for a in conn.scalars(q)]
