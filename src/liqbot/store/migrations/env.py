"""Alembic environment for the liqbot store.

`liqbot.store.db.migrate` runs it on a connection it hands over (inside its own transaction and, on
PostgreSQL, its advisory lock). Alembic's command API with `db.alembic_config(url)` runs it from the URL
instead, or offline to print the SQL for a DBA.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from liqbot.store.db import make_engine
from liqbot.store.models import Base, Uint256, Usd, UtcDateTime

config = context.config

# A revision must not import liqbot types (they may change after it is written): render them as plain types.
_PLAIN_TYPES = {
    Uint256: 'sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")',
    Usd: 'sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")',
    UtcDateTime: "sa.DateTime(timezone=True)",
}


def _render_item(kind: str, obj: Any, _ctx: Any) -> str | Literal[False]:
    if kind == "type" and type(obj) in _PLAIN_TYPES:
        return _PLAIN_TYPES[type(obj)]
    return False


def _configure(**kw: Any) -> None:
    context.configure(target_metadata=Base.metadata, render_item=_render_item, compare_type=True, **kw)


def _run_online(conn: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    _configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    conn = config.attributes.get("connection")
    if conn is not None:
        _run_online(conn)
        return
    if url is None:
        raise RuntimeError("set sqlalchemy.url, or pass a connection in config.attributes['connection']")
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            _run_online(c)
    finally:
        engine.dispose()


_main()
