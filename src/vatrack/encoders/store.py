"""On-disk vector cache: one SQLite file per encoder identity.

Why SQLite: a warm lookup is one indexed ``SELECT ... IN`` per few hundred keys (4.5k texts
read in tens of milliseconds), and SQLite's locking lets several processes (CV folds,
sweep workers) append to the same file without corrupting it. Rows are
``(blake2b-128 of the text, float32 vector bytes)``; rows are only ever inserted.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from vatrack.errors import VatrackError

_CHUNK = 500  # keys per SELECT; well below SQLite's bound-parameter limit


class VectorStore:
    """``get``/``put`` float32 vectors of one fixed ``dim`` keyed by bytes."""

    def __init__(self, path: Path, dim: int):
        self.path = Path(path)
        self.dim = int(dim)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode; writes open an explicit transaction. A long timeout makes a
            # second writer wait for the lock instead of failing.
            con = sqlite3.connect(self.path, timeout=120, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
            return con
        except (OSError, sqlite3.Error) as exc:
            raise VatrackError(
                f"embedding cache {self.path} cannot be opened ({exc}); set VATRACK_CACHE to a writable folder or delete the file"
            ) from None

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Vectors for the keys that are stored (missing keys are simply absent)."""
        found: dict[bytes, np.ndarray] = {}
        if not keys or not self.path.exists():
            return found
        nbytes = 4 * self.dim
        with closing(self._connect()) as con:
            try:
                for start in range(0, len(keys), _CHUNK):
                    chunk = keys[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for key, blob in con.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                        if len(blob) == nbytes:  # a wrong-sized row is treated as a miss
                            found[bytes(key)] = np.frombuffer(blob, dtype="<f4")
            except sqlite3.Error as exc:
                raise VatrackError(f"embedding cache {self.path} is unreadable ({exc}); delete it and run again") from None
        return found

    def put(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        """Insert vectors in one transaction; keys already present are left untouched."""
        if not items:
            return
        rows = [(key, np.ascontiguousarray(vec, dtype="<f4").tobytes()) for key, vec in items]
        with closing(self._connect()) as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)", rows)
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise VatrackError(f"cannot write embedding cache {self.path} ({exc}); check free disk space and permissions") from None

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as con:
            return con.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
