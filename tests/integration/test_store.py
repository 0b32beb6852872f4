"""The attempts store on real databases: every test runs on SQLite (a temp file) and, when
LIQBOT_TEST_POSTGRES_URL is set, on PostgreSQL in a schema of its own that is dropped afterwards."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from liqbot.cli import attempts_cmd
from liqbot.core.errors import AttemptNotFoundError, ConfigError, InvalidTransition, StoreError
from liqbot.store import AttemptMode, AttemptStatus, Outcome, Store, open_store
from liqbot.store.db import alembic_config, current_revision, head_revision, make_engine, migrate
from liqbot.store.models import Base
from liqbot.store.status import check_transition

PG_ENV = "LIQBOT_TEST_POSTGRES_URL"
S = AttemptStatus
BIG = [0, 1, 2**64, 2**255, 2**255 + 1, 2**256 - 1]  # 2**255 alone would pass on a double: it is a power of 2
_blocks = itertools.count(1_000)


def addr(n: int) -> str:
    return f"0x{n:040x}"


def txh(n: int) -> str:
    return f"0x{n:064x}"


def detected(store: Store, **over: Any) -> int:
    fields: dict[str, Any] = {
        "chain_id": 1,
        "protocol": "aave_v3",
        "market": addr(0xAA),
        "borrower": addr(0xB0),
        "mode": "funds",
        "collateral_asset": addr(0xC0),
        "debt_asset": addr(0xD0),
        "debt_to_cover": 5 * 10**20,
        "expected_seized": 2 * 10**17,
        "expected_profit_usd": Decimal("41.25"),
        "detected_block": next(_blocks),
    } | over
    return store.record_detected(**fields)


# ---- fixtures: one fresh database per test, on each backend ------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[tuple[sa.Engine, str]]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    engine = make_engine(url)
    prefix = f"liqbot_test_{secrets.token_hex(4)}"  # unique per session: parallel workers and CI never meet
    yield engine, prefix
    with engine.begin() as conn:  # sweep anything a test left behind (a crash mid-test)
        names = conn.execute(
            sa.text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
            {"p": f"{prefix}%"},
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    engine.dispose()


_schemas = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'liqbot.db'}"
        return
    admin, prefix = request.getfixturevalue("pg_admin")
    schema = f"{prefix}_{next(_schemas)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:  # search_path puts every table (and alembic_version) in the test's own schema
        yield admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


# ---- schema and migrations ---------------------------------------------------------------------------------


def test_migrations_build_exactly_the_models(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert set(sa.inspect(store.engine).get_table_names()) >= {"liquidation_attempts", "sync_cursors"}


def test_migrate_again_is_a_no_op(store: Store, db_url: str) -> None:
    attempt = detected(store)
    assert migrate(db_url) == head_revision()
    open_store(db_url).close()
    assert store.get(attempt).id == attempt


def test_database_from_a_newer_liqbot_is_refused(store: Store, db_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="9999"):
        open_store(db_url)


# ---- exact values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BIG)
def test_uint256_round_trips_exactly(store: Store, value: int) -> None:
    i = detected(store, debt_to_cover=value, expected_seized=value, health_factor=value)
    a = store.advance(i, S.SIMULATED, effective_gas_price=value)
    assert (a.debt_to_cover, a.expected_seized, a.health_factor, a.effective_gas_price) == (value,) * 4
    assert all(type(v) is int for v in (a.debt_to_cover, a.health_factor))


def test_plain_numeric_on_sqlite_would_lose_uint256(tmp_path: Path) -> None:
    """Why Uint256 exists: SQLite's NUMERIC keeps a 78-digit integer as a double."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    t = sa.Table("t", sa.MetaData(), sa.Column("v", sa.Numeric(78, 0)))
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"v": Decimal(2**255 + 1)}])
        assert int(conn.execute(sa.select(t.c.v)).scalar_one()) != 2**255 + 1
    engine.dispose()


def test_amounts_are_stored_exactly(store: Store) -> None:
    """Decimal text on SQLite (its NUMERIC is a double), NUMERIC(78, 0) on PostgreSQL."""
    detected(store, debt_to_cover=2**256 - 1)
    sqlite = store.engine.dialect.name == "sqlite"
    kind = "typeof(debt_to_cover)" if sqlite else "pg_typeof(debt_to_cover)::text"
    with store.engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT {kind}, debt_to_cover FROM liquidation_attempts")).one()
    assert (row[0], int(row[1])) == ("text" if sqlite else "numeric", 2**256 - 1)


def test_usd_is_exact_and_refuses_floats(store: Store) -> None:
    big = Decimal("-12345678901234567890.123456789012345678")
    i = detected(store, expected_profit_usd=big, bonus_usd=Decimal("0.1"), fees_usd=3)
    a = store.get(i)
    assert (a.expected_profit_usd, a.bonus_usd, a.fees_usd) == (big, Decimal("0.1"), Decimal(3))
    with pytest.raises(TypeError, match="Decimal or int"):
        detected(store, expected_profit_usd=0.1)
    with pytest.raises(ValueError, match="too large"):
        detected(store, expected_profit_usd=Decimal("1e20"))


def test_times_are_aware_utc(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    when = datetime(2025, 3, 1, 14, 30, tzinfo=cest)
    a = store.get(detected(store, created_at=when))
    assert a.created_at == when and a.created_at.tzinfo is UTC and a.created_at.hour == 12
    assert a.updated_at.tzinfo is UTC
    with pytest.raises(TypeError, match="aware"):
        detected(store, created_at=datetime(2025, 3, 1))


# ---- recording and moving ----------------------------------------------------------------------------------


def test_record_detected_is_idempotent_per_opportunity(store: Store) -> None:
    first = detected(store, detected_block=77, expected_profit_usd=Decimal(5))
    again = detected(store, detected_block=77, borrower=addr(0xB0).upper().replace("0X", "0x"))
    assert again == first  # a restart re-deciding the same position in the same block adds nothing
    assert store.get(first).expected_profit_usd == Decimal(5)
    assert detected(store, detected_block=78) != first
    assert detected(store, detected_block=77, chain_id=10) != first
    assert store.get(first).opportunity_key == f"1:aave_v3:{addr(0xAA)}:{addr(0xB0)}:77"


def test_funds_attempt_all_the_way(store: Store) -> None:
    i = detected(store)
    a = store.advance(i, S.SIMULATED, expected_profit_usd=Decimal("40.10"))
    assert a.status is S.SIMULATED and a.simulated_at is not None and a.expected_profit_usd == Decimal("40.1")
    a = store.advance(i, "submitted", tx_hash=txh(1).upper().replace("0X", "0x"), nonce=7, sender=addr(0x5E))
    assert (a.status, a.tx_hash, a.nonce) == (S.SUBMITTED, txh(1), 7) and a.submitted_at is not None
    a = store.advance(i, S.INCLUDED, included_block=123, gas_used=310_000, effective_gas_price=3 * 10**9,
                      realized_profit_usd=Decimal("39.5"))  # fmt: skip
    assert (a.included_block, a.gas_used, a.realized_profit_usd) == (123, 310_000, Decimal("39.5"))
    stamps = [a.created_at, a.simulated_at, a.submitted_at, a.included_at]
    assert stamps == sorted(t for t in stamps if t is not None)  # all set, in order
    with pytest.raises(InvalidTransition, match="final"):
        store.advance(i, S.FAILED)


def test_shadow_attempt_ends_shadowed(store: Store) -> None:
    i = detected(store, mode=AttemptMode.SHADOW)
    store.advance(i, S.SIMULATED)
    with pytest.raises(InvalidTransition):
        store.advance(i, S.SUBMITTED)
    assert store.advance(i, S.SHADOWED).status is S.SHADOWED
    with pytest.raises(InvalidTransition):
        store.advance(i, S.SKIPPED)


def test_refused_move_changes_nothing(store: Store) -> None:
    i = detected(store)
    before = store.get(i)
    with pytest.raises(InvalidTransition, match="detected -> included"):
        store.advance(i, S.INCLUDED, included_block=5)
    assert store.get(i) == before


def test_advance_cannot_rewrite_identity(store: Store) -> None:
    i = detected(store)
    with pytest.raises(TypeError, match="borrower"):
        store.advance(i, S.SIMULATED, borrower=addr(1))
    with pytest.raises(ValueError, match="tx_hash"):
        store.advance(i, S.SIMULATED, tx_hash="0x1234")
    with pytest.raises(AttemptNotFoundError):
        store.advance(10**9, S.SIMULATED)


def test_reorg_sends_included_back_to_submitted(store: Store) -> None:
    i = detected(store, mode="flash")
    store.advance(i, S.SIMULATED)
    store.advance(i, S.SUBMITTED, tx_hash=txh(9))
    store.advance(i, S.INCLUDED, included_block=50, gas_used=1, realized_profit_usd=Decimal(2))
    with pytest.raises(InvalidTransition):
        store.advance(i, S.SUBMITTED)  # only by name: a late "submitted" must not undo an inclusion
    a = store.mark_reorged(i, reason="reorg at 50")
    assert (a.status, a.reorg_count, a.included_block, a.gas_used, a.realized_profit_usd, a.tx_hash) == (
        S.SUBMITTED, 1, None, None, None, txh(9))  # fmt: skip
    with pytest.raises(InvalidTransition, match="a reorg moves"):
        store.mark_reorged(i)
    assert store.advance(i, S.INCLUDED, included_block=51).included_block == 51


def test_stale_read_is_refused_by_the_update_itself(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python check passes on what this process saw; the UPDATE's `status = :seen` must still refuse."""
    i = detected(store)
    stale = store.get(i)
    store.advance(i, S.SIMULATED)  # another process got there first
    real_get = store.get
    calls = iter([stale])
    monkeypatch.setattr(store, "get", lambda attempt_id: next(calls, None) or real_get(attempt_id))
    with pytest.raises(InvalidTransition, match="another process moved it first"):
        store.advance(i, S.SKIPPED)  # detected -> skipped is legal; the row is no longer detected
    assert real_get(i).status is S.SIMULATED


def test_two_processes_racing_one_wins(db_url: str) -> None:
    a, b = open_store(db_url), open_store(db_url)
    ids = [detected(a) for _ in range(20)]
    wins: list[int] = []
    barrier = threading.Barrier(2)

    def racer(s: Store) -> None:
        barrier.wait()
        for i in ids:
            try:
                s.advance(i, S.SIMULATED)
                wins.append(i)
            except InvalidTransition:
                pass

    threads = [threading.Thread(target=racer, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == ids  # every row moved exactly once
    a.close()
    b.close()


moves = st.lists(st.tuples(st.sampled_from(list(AttemptStatus)), st.booleans()), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(list(AttemptMode)), seq=moves)
def test_database_follows_the_pure_rules(
    store: Store, mode: AttemptMode, seq: list[tuple[AttemptStatus, bool]]
) -> None:
    i = detected(store, mode=mode)
    expect = S.DETECTED
    for target, reorg in seq:
        target = S.SUBMITTED if reorg else target  # a reorg only ever goes back to submitted
        try:
            check_transition(expect, target, mode, reorg=reorg)
            legal = True
        except InvalidTransition:
            legal = False
        try:
            got = store.mark_reorged(i) if reorg else store.advance(i, target)
        except InvalidTransition:
            assert not legal
            continue
        assert legal and got.status is target
        expect = target
    assert store.get(i).status is expect


# ---- reading -----------------------------------------------------------------------------------------------


def test_get_missing(store: Store) -> None:
    with pytest.raises(AttemptNotFoundError, match="no attempt with id 4242"):
        store.get(4242)


def test_list_filters_and_order(store: Store) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    a = detected(store, chain_id=1, created_at=t0)
    b = detected(store, chain_id=10, created_at=t0 + timedelta(hours=1), borrower=addr(0xB1))
    c = detected(store, chain_id=1, created_at=t0 + timedelta(hours=2))
    store.advance(b, S.SKIPPED, reason="below threshold")
    store.advance(c, S.LOST_RACE)
    assert [x.id for x in store.list()] == [c, b, a]
    assert [x.id for x in store.list(chain_id=1)] == [c, a]
    assert [x.id for x in store.list(status=S.SKIPPED)] == [b]
    assert [x.id for x in store.list(status=["skipped", "lost_race"])] == [c, b]
    assert [x.id for x in store.list(since=t0 + timedelta(minutes=30))] == [c, b]
    assert [x.id for x in store.list(limit=1)] == [c]
    assert [x.id for x in store.list(borrower=addr(0xB1).upper().replace("0X", "0x"))] == [b]
    assert store.list(chain_id=1, status=S.SKIPPED) == []
    assert store.get(b).reason == "below threshold"


def test_export_jsonl_and_csv_are_exact(store: Store) -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    first = detected(
        store, created_at=t0, debt_to_cover=2**256 - 1, bonus_usd=Decimal("0.000000000000000001")
    )
    second = detected(store, created_at=t0 + timedelta(minutes=1), chain_id=10)
    buf = io.StringIO()
    assert store.export("jsonl", buf) == 2
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["id"] for r in rows] == [first, second]  # oldest first
    assert rows[0]["debt_to_cover"] == str(2**256 - 1)  # a string: jq or JavaScript would round a number
    assert rows[0]["bonus_usd"] == "0.000000000000000001"
    assert rows[0]["created_at"] == "2025-01-01T00:00:00+00:00" and rows[0]["status"] == "detected"
    buf = io.StringIO()
    assert store.export("csv", buf, chain_id=10) == 1
    (row,) = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert row["id"] == str(second) and row["expected_profit_usd"] == "41.25" and row["tx_hash"] == ""
    with pytest.raises(StoreError, match="xml"):
        store.export("xml", io.StringIO())


def test_reconcile_records_what_happened(store: Store) -> None:
    i = detected(store, mode="shadow")
    store.advance(i, S.SIMULATED)
    store.advance(i, S.SHADOWED)
    assert store.reconcile(i, "still_open").outcome is Outcome.STILL_OPEN
    at = datetime(2025, 1, 1, 0, 0, 12, tzinfo=UTC)
    a = store.reconcile(i, Outcome.LIQUIDATED_BY_OTHER, block=1234, tx_hash=txh(0xF00), at=at)
    assert (a.outcome, a.outcome_block, a.outcome_tx, a.outcome_at) == (
        Outcome.LIQUIDATED_BY_OTHER, 1234, txh(0xF00), at)  # fmt: skip
    assert a.status is S.SHADOWED and a.reconciled_at is not None
    with pytest.raises(AttemptNotFoundError):
        store.reconcile(999_999, "still_open")


def test_sync_cursor(store: Store) -> None:
    assert store.get_cursor(1, "aave_v3:0xpool") is None
    store.set_cursor(1, "aave_v3:0xpool", 100, txh(100))
    store.set_cursor(1, "aave_v3:0xpool", 101, txh(101))
    store.set_cursor(10, "aave_v3:0xpool", 7, txh(7))
    c = store.get_cursor(1, "aave_v3:0xpool")
    assert c is not None and (c.block_number, c.block_hash) == (101, txh(101)) and c.updated_at.tzinfo is UTC
    store.set_cursor(1, "aave_v3:0xpool", 99, txh(99))  # a reorg rewinds it
    assert [store.get_cursor(n, "aave_v3:0xpool") is not None for n in (1, 10)] == [True, True]
    assert [c.block_number for n in (1, 10) if (c := store.get_cursor(n, "aave_v3:0xpool"))] == [99, 7]


# ---- opening ----------------------------------------------------------------------------------------------


def test_open_errors_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        open_store(f"sqlite:///{tmp_path / 'nope.db'}", create=False)
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        open_store("mysql://u@localhost/x")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("::nonsense::")
    with pytest.raises(StoreError, match="cannot migrate") as err:
        open_store("postgresql://liqbot:hunter2@127.0.0.1:1/none")  # nothing listens on port 1
    assert "hunter2" not in str(err.value)


def test_open_creates_sqlite_parent_dir(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'new' / 'dir' / 'liqbot.db'}").close()
    assert (tmp_path / "new" / "dir" / "liqbot.db").exists()


def test_offline_sql_for_a_dba(capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(alembic_config("postgresql://dba@db.example/liqbot"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE liquidation_attempts" in sql and "NUMERIC(78, 0)" in sql and "sync_cursors" in sql


# ---- the CLI -----------------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with open_store(url) as s:
        now = datetime.now(UTC)
        old = detected(s, created_at=now - timedelta(days=3), borrower=addr(0x01))
        s.advance(old, S.SKIPPED, reason="gas too high")
        new = detected(s, created_at=now - timedelta(minutes=5), chain_id=10, debt_to_cover=2**255 + 1)
        s.advance(new, S.SIMULATED)
    return url


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(attempts_cmd.app, list(args), env={"COLUMNS": "160", **(env or {})})


def test_cli_list_with_filters(cli_db: str) -> None:
    out = run("list", "--db", cli_db)
    assert out.exit_code == 0, out.output
    assert "2 attempt(s)" in out.output and "skipped" in out.output and "simulated" in out.output
    out = run("list", "--db", cli_db, "--since", "2h")
    assert "1 attempt(s)" in out.output and "skipped" not in out.output
    out = run("list", "--db", cli_db, "--status", "skipped", "--chain", "1")
    assert "1 attempt(s)" in out.output and "skipped" in out.output
    assert "0 attempt(s)" in run("list", "--db", cli_db, "--chain", "10", "--status", "skipped").output


def test_cli_default_db_from_env(cli_db: str) -> None:
    out = run("list", env={"LIQBOT_DATABASE_URL": cli_db})
    assert out.exit_code == 0 and "2 attempt(s)" in out.output


def test_cli_show(cli_db: str) -> None:
    out = run("show", "2", "--db", cli_db)
    assert out.exit_code == 0, out.output
    assert str(2**255 + 1) in out.output.replace("\n", "").replace(" ", "")  # folded, never cut
    out = run("show", "99", "--db", cli_db)
    assert isinstance(out.exception, AttemptNotFoundError)


def test_cli_export_to_file(cli_db: str, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    out = run("export", "--format", "csv", "--out", str(target), "--db", cli_db, "--status", "simulated")
    assert out.exit_code == 0, out.output
    (row,) = list(csv.DictReader(target.open(encoding="utf-8")))
    assert row["status"] == "simulated" and row["debt_to_cover"] == str(2**255 + 1)
    out = run("export", "--db", cli_db)  # jsonl to stdout
    assert [json.loads(line)["id"] for line in out.output.splitlines()] == [1, 2]


def test_cli_errors(cli_db: str, tmp_path: Path) -> None:
    assert isinstance(run("list", "--db", cli_db, "--since", "yesterday").exception, ConfigError)
    assert isinstance(run("list", "--db", cli_db, "--status", "done").exception, ConfigError)
    missing = run("list", "--db", f"sqlite:///{tmp_path / 'missing.db'}")
    assert isinstance(missing.exception, StoreError) and not (tmp_path / "missing.db").exists()
    assert run("export", "--format", "xml", "--db", cli_db).exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", datetime(2025, 6, 1, 10, tzinfo=UTC)),
        ("3d", datetime(2025, 5, 29, 12, tzinfo=UTC)),
        ("45m", datetime(2025, 6, 1, 11, 15, tzinfo=UTC)),
        ("1w", datetime(2025, 5, 25, 12, tzinfo=UTC)),
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        ("2025-05-01T08:30Z", datetime(2025, 5, 1, 8, 30, tzinfo=UTC)),
        ("2025-05-01T08:30+02:00", datetime(2025, 5, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert attempts_cmd.parse_since(text, now=datetime(2025, 6, 1, 12, tzinfo=UTC)) == expected


# ---- tracked accounts ------------------------------------------------------------------------------------


def test_tracked_accounts_round_trip_and_dedupe(store: Store) -> None:
    from liqbot.store.accounts import add_accounts, load_accounts

    accounts = [addr(i) for i in range(1, 4500)]
    add_accounts(store, 31337, "aave_v3:0xpool", accounts)
    add_accounts(store, 31337, "aave_v3:0xpool", accounts[:10])  # again: no duplicate, no error
    add_accounts(store, 1, "aave_v3:0xpool", accounts[:5])
    loaded = load_accounts(store, 31337, "aave_v3:0xpool")
    assert sorted(a.lower() for a in loaded) == sorted(a.lower() for a in accounts)
    assert len(load_accounts(store, 1, "aave_v3:0xpool")) == 5
    assert load_accounts(store, 31337, "morpho_blue:0xid") == []


# ---- kill switch ------------------------------------------------------------------------------------------


def test_kill_switch_persists_across_restarts_and_instances(db_url: str, tmp_path: Path) -> None:
    from liqbot.risk import killswitch as ks

    a, b = open_store(db_url), open_store(db_url)  # two bot instances on one database
    try:
        assert ks.blocking(a, "base") is None
        ks.engage(a, "base", "revert rate 40% over 20 attempts", "auto:revert_rate")
        assert (got := ks.blocking(b, "base")) is not None and got.reason.startswith("revert rate")
        assert ks.blocking(b, "arbitrum") is None, "a chain's switch stops only that chain"
        with pytest.raises(ValueError, match="by hand"):
            ks.release(b, "base", "auto release", "auto:cooldown")
        a.close()
        a = open_store(db_url)  # a restart: the state comes back from the database
        assert ks.status(a, "base").engaged
        ks.engage(a, ks.GLOBAL, "incident 42", "cli:ops")
        assert (g := ks.blocking(b, "arbitrum")) is not None and g.scope == ks.GLOBAL
        ks.release(b, ks.GLOBAL, "incident closed", "cli:ops")
        ks.release(b, "base", "fixed the router", "cli:ops")
        assert ks.blocking(a, "base") is None and ks.blocking(a, "arbitrum") is None
        stop = tmp_path / "STOP"
        stop.write_text("maintenance window")
        assert (f := ks.blocking(a, "base", stop)) is not None and f.reason == "maintenance window"
    finally:
        a.close()
        b.close()
