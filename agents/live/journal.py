"""An append-only SQLite journal of every decision, plan, simulation, transaction and receipt.

A transaction is written (with its signed bytes) before it is sent, so a crash at any point leaves a
record of it; a decision's outcome stays ``sending`` until its plan has run to the end, so a restart
knows which plan was cut short."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY, at REAL, block INTEGER, observation TEXT, action TEXT, plan TEXT,
  outcome TEXT, reasons TEXT);
CREATE TABLE IF NOT EXISTS transactions (
  id INTEGER PRIMARY KEY, decision INTEGER, at REAL, nonce INTEGER, hash TEXT, "to" TEXT, function TEXT,
  notional_usd REAL, status TEXT, receipt TEXT, raw TEXT);
"""
#: outcomes of a decision whose plan started and did not run to its end
UNFINISHED = ("sending", "interrupted")


class Journal:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit: a crash loses nothing written; one adapter writes, whichever thread runs it
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(transactions)")}
        if "raw" not in columns:  # a journal written before signed bytes were kept
            try:
                self.db.execute("ALTER TABLE transactions ADD COLUMN raw TEXT")
            except sqlite3.OperationalError as err:  # another process added it first
                if "duplicate column" not in str(err):
                    raise

    def decision(self, block: int, observation, action, plan: list[dict], outcome: str, reasons: list[str]) -> int:
        cur = self.db.execute(
            "INSERT INTO decisions (at, block, observation, action, plan, outcome, reasons) VALUES (?,?,?,?,?,?,?)",
            (
                time.time(),
                block,
                json.dumps([float(x) for x in observation]),
                json.dumps(action),
                json.dumps(plan),
                outcome,
                json.dumps(reasons),
            ),
        )
        return _row_id(cur)

    def finish(self, decision: int, outcome: str) -> None:
        """Record how a plan that started sending ended: done, interrupted, or recovered."""
        self.db.execute("UPDATE decisions SET outcome = ? WHERE id = ?", (outcome, decision))

    def unfinished(self) -> list[int]:
        """Decisions whose plan started sending and never reached its end."""
        marks = ",".join("?" * len(UNFINISHED))
        return [row[0] for row in self.db.execute(f"SELECT id FROM decisions WHERE outcome IN ({marks})", UNFINISHED)]

    def sent(
        self,
        decision: int,
        nonce: int,
        tx_hash: str,
        to: str,
        function: str,
        notional_usd: float,
        raw: str | None = None,
    ) -> int:
        """Write a signed transaction down before it goes to the node (status 'sent' until it is settled)."""
        return _row_id(
            self.db.execute(
                'INSERT INTO transactions (decision, at, nonce, hash, "to", function, notional_usd, status, raw) '
                "VALUES (?,?,?,?,?,?,?, 'sent', ?)",
                (decision, time.time(), nonce, tx_hash, to, function, notional_usd, raw),
            )
        )

    def settle(self, tx_id: int, status: str, receipt: dict | None) -> None:
        self.db.execute(
            "UPDATE transactions SET status = ?, receipt = ? WHERE id = ?",
            (status, json.dumps(receipt) if receipt else None, tx_id),
        )

    def pending(self) -> list[tuple[int, int, str, str | None]]:
        """(id, nonce, hash, signed bytes) of every transaction not yet settled, oldest first."""
        return self.db.execute(
            "SELECT id, nonce, hash, raw FROM transactions WHERE status = 'sent' ORDER BY id"
        ).fetchall()

    def notional_since(self, seconds: float) -> float:
        row = self.db.execute(
            "SELECT COALESCE(SUM(notional_usd), 0) FROM transactions WHERE at > ? AND status != 'failed'",
            (time.time() - seconds,),
        ).fetchone()
        return float(row[0])

    def sends_since(self, seconds: float) -> int:
        return self.db.execute(
            "SELECT COUNT(DISTINCT decision) FROM transactions WHERE at > ?", (time.time() - seconds,)
        ).fetchone()[0]

    def decisions(self) -> list[dict]:
        cols = ("id", "at", "block", "observation", "action", "plan", "outcome", "reasons")
        return [dict(zip(cols, row)) for row in self.db.execute(f"SELECT {', '.join(cols)} FROM decisions ORDER BY id")]

    def transactions(self) -> list[dict]:
        cols = ("id", "decision", "nonce", "hash", "to", "function", "status")
        return [
            dict(zip(cols, row))
            for row in self.db.execute(
                'SELECT id, decision, nonce, hash, "to", function, status FROM transactions ORDER BY id'
            )
        ]


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (sqlite sets it for every INSERT)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
