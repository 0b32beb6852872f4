"""The kill switch: global or per chain, persisted in the database so it survives restarts and every
instance sees it (LESSONS: a switch that lives in memory forgets). Engaged by the CLI, by a file, or by an
automatic rule; released only by hand, and every move is recorded. While engaged nothing is sent;
detection and shadow records go on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from liqbot.store import Store
from liqbot.store.models import KillSwitchEventRow

GLOBAL = "global"


@dataclass(frozen=True)
class SwitchState:
    scope: str
    engaged: bool
    reason: str
    actor: str
    at: datetime | None


def _latest(store: Store, scope: str) -> SwitchState:
    q = (
        select(KillSwitchEventRow)
        .where(KillSwitchEventRow.scope == scope)
        .order_by(KillSwitchEventRow.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return SwitchState(scope, False, "", "", None)
    r = row._mapping
    return SwitchState(scope, bool(r["engaged"]), str(r["reason"]), str(r["actor"]), r["at"])


def _record(store: Store, scope: str, engaged: bool, reason: str, actor: str) -> SwitchState:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            insert(KillSwitchEventRow).values(
                scope=scope, engaged=engaged, reason=reason, actor=actor, at=now
            )
        )
    return SwitchState(scope, engaged, reason, actor, now)


def engage(store: Store, scope: str, reason: str, actor: str) -> SwitchState:
    if not reason.strip():
        raise ValueError("a kill switch needs a reason")
    return _record(store, scope, True, reason, actor)


def release(store: Store, scope: str, reason: str, actor: str) -> SwitchState:
    """Manual only: automatic rules engage, people release."""
    if actor.startswith("auto:"):
        raise ValueError("the kill switch is released by hand, never automatically")
    return _record(store, scope, False, reason or "released", actor)


def status(store: Store, scope: str) -> SwitchState:
    return _latest(store, scope)


def blocking(store: Store, chain: str, stop_file: Path | None = None) -> SwitchState | None:
    """The switch that forbids sending on `chain` right now (global, the chain's, or a stop file), or None."""
    if stop_file is not None and stop_file.exists():
        text = stop_file.read_text(errors="replace").strip()[:200]
        return SwitchState(GLOBAL, True, text or "stop file present", f"file:{stop_file}", None)
    for scope in (GLOBAL, chain):
        s = _latest(store, scope)
        if s.engaged:
            return s
    return None
