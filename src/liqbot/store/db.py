"""Engines from a URL, and Alembic migrations run from inside the installed package (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from liqbot.core.errors import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SUPPORTED = ("sqlite", "postgresql")
# Any constant will do; it only has to be the same in every liqbot process sharing the database.
_MIGRATION_LOCK = 0x6C6971626F74  # "liqbot"


def parse_url(url: str | URL) -> URL:
    """Parse and check a database URL. A bare `postgresql://` means psycopg 3, the driver liqbot ships."""
    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r} ({exc})") from None
    if u.get_backend_name() not in SUPPORTED:
        backend = u.get_backend_name()
        raise StoreError(f"unsupported database {backend!r} in {redact(u)}: use sqlite or postgresql")
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u


def redact(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL) -> Engine:
    u = parse_url(url)
    if u.get_backend_name() == "postgresql":
        return create_engine(u, pool_pre_ping=True)  # survive a database restart under a long-running bot
    engine = create_engine(u, connect_args={"timeout": 30})  # wait for another writer, don't fail at once
    _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, start transactions, so DDL (migrations) is transactional too.

    WAL lets `liqbot attempts list` read while the bot writes.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still survives a crash of the process (what we guard against); only an OS crash
        # or power loss can drop the last commits. FULL costs an fsync per attempt update on the hot path.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows leave the store as frozen dataclasses, so nothing needs reloading after commit.
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config pointing at the migrations inside the package; also handy for writing a new revision:
    `alembic.command.revision(alembic_config(url), message=..., autogenerate=True)`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:  # configparser treats % as interpolation
        cfg.set_main_option("sqlalchemy.url", parse_url(url).render_as_string(False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(url: str | URL | Engine) -> str:
    """Upgrade the database to the newest schema; returns the revision it is at. Safe to call every start:
    on PostgreSQL an advisory lock makes concurrent starts take turns instead of racing on CREATE TABLE."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            cfg.attributes["connection"] = conn  # env.py runs on this connection, inside this transaction
            command.upgrade(cfg, "head")
    except CommandError as exc:  # e.g. the database was migrated by a newer liqbot
        raise StoreError(f"cannot migrate {redact(engine.url)}: {exc}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate {redact(engine.url)}: {_first_line(exc)}") from exc
    finally:
        if engine is not url:
            engine.dispose()
    return head_revision()


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
