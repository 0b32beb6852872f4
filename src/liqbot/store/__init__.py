"""The attempts database: every liquidation decision and what became of it, plus the detection resume points.

`store = open_store(url)` (engine + migrations to head), `attempt_id = store.record_detected(...)` (idempotent
per opportunity), `store.advance(attempt_id, AttemptStatus.SIMULATED)`. See docs/attempts.md.
"""

from liqbot.store.attempts import Store, open_store
from liqbot.store.models import Attempt, Cursor
from liqbot.store.status import AttemptMode, AttemptStatus, Outcome, Protocol
from liqbot.store.transactions import AttemptTx, attempt_txs, record_tx  # registers its table

__all__ = [
    "Attempt",
    "AttemptMode",
    "AttemptStatus",
    "AttemptTx",
    "Cursor",
    "Outcome",
    "Protocol",
    "Store",
    "attempt_txs",
    "open_store",
    "record_tx",
]
