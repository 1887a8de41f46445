"""The sweep store: one SQLite file (OUT/sweep.sqlite, stdlib sqlite3) that survives interruption.

Tables: `cells` (a row per measured or failed cell, keyed by a hash of everything that determines it, with typed
columns for what people filter on and JSON columns for the full bench row, the verification and the provenance),
`stages` (finished trainings and conversions, so a re-run reuses them), `runs` (each sweep: its spec, its cells'
keys, when it started and finished) and `meta`. WAL mode and one transaction per finished cell: a Ctrl-C or a
kill -9 loses at most the cells in flight and never leaves the file corrupt.

    sqlite3 OUT/sweep.sqlite "select backbone, recipe, target, p50_ms, accuracy from cells where status='ok'"
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable

from ..core.errors import InputError

FILE = "sweep.sqlite"
SCHEMA = "edgebb.sweep/1"

# (column, SQL type) of `cells`; JSON columns hold text.
CELL_COLUMNS = [
    ("key", "TEXT PRIMARY KEY"), ("run_id", "INTEGER"), ("backbone", "TEXT"), ("family", "TEXT"),
    ("width", "REAL"), ("size", "INTEGER"), ("recipe", "TEXT"), ("runtime", "TEXT"), ("format", "TEXT"),
    ("target", "TEXT"), ("threads", "INTEGER"), ("status", "TEXT"), ("stage", "TEXT"), ("error", "TEXT"),
    ("accuracy", "REAL"), ("accuracy_source", "TEXT"), ("float_accuracy", "REAL"), ("agreement", "REAL"),
    ("p50_ms", "REAL"), ("p90_ms", "REAL"), ("p99_ms", "REAL"), ("peak_rss_mb", "REAL"), ("size_mb", "REAL"),
    ("macs", "INTEGER"), ("params", "INTEGER"), ("peak_activation_bytes", "INTEGER"),
    ("weights_fp32_bytes", "INTEGER"), ("weights_int8_bytes", "INTEGER"), ("train_seconds", "REAL"),
    ("convert_seconds", "REAL"), ("emulated", "INTEGER"), ("software", "INTEGER"), ("pretrained", "INTEGER"),
    ("weights", "TEXT"), ("feature_strides", "TEXT"), ("data_fingerprint", "TEXT"), ("data_images", "INTEGER"),
    ("artifact", "TEXT"), ("created", "TEXT"), ("bench", "TEXT"), ("verification", "TEXT"), ("provenance", "TEXT"),
]
JSON_COLUMNS = ("bench", "verification", "provenance")
NAMES = [name for name, _ in CELL_COLUMNS]
# A cell's identity for people: of the rows of one configuration (other settings, data or versions), the one the
# newest sweep asking for it used is shown (Store.view).
IDENTITY = ("backbone", "width", "size", "recipe", "runtime", "target")

_DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    f"CREATE TABLE IF NOT EXISTS cells ({', '.join(f'{n} {t}' for n, t in CELL_COLUMNS)})",
    "CREATE TABLE IF NOT EXISTS stages (key TEXT PRIMARY KEY, kind TEXT, model TEXT, result TEXT, created TEXT)",
    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started TEXT, finished TEXT, status TEXT, "
    "spec TEXT, keys TEXT, data_fingerprint TEXT, notes TEXT)",
    "CREATE INDEX IF NOT EXISTS cells_target ON cells (target, status)",
]


def started_pretrained(weights: str | None) -> bool | None:
    """The `pretrained` column: whether the cell's model started from ImageNet weights (True) or from random ones
    (False), as its training or conversion recorded (`weights`: "imagenet", "random" or the user's weights file);
    None when that is unknown (a file, whose origin edgebb cannot tell; no stage finished). Not whether the family
    offers ImageNet weights: offline, a sweep trains a family that has them from random weights."""
    if weights is None:
        return None
    return True if weights == "imagenet" else False if weights == "random" else None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def store_path(out_dir: str) -> str:
    return os.path.join(out_dir, FILE)


def is_store(path: str) -> bool:
    """Whether `path` is an edgebb sweep store (an SQLite file whose meta says so)."""
    return store_problem(path) is None


def store_problem(path: str) -> str | None:
    """What keeps the file at `path` from being an edgebb sweep store, in a few words; None when it is one.

    Read through a read-write connection that only reads: a read-only one leaves the store's -wal and -shm files
    behind (it may not delete them), which a refused file then kept beside it."""
    try:
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return "not an SQLite file"
        conn = sqlite3.connect(path, timeout=30)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        finally:
            conn.close()
    except OSError as exc:
        return exc.strerror or str(exc)
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return "an SQLite file of something else, with no edgebb meta table"
        return f"a damaged SQLite file: {exc}"
    if not row or row[0] != SCHEMA:
        return f"a sweep store of another edgebb, schema {row[0] if row else 'missing'} where this one reads {SCHEMA}"
    return None


class Store:
    """An open sweep store. `Store.create(out_dir)` makes or opens OUT/sweep.sqlite for writing (the sweep driver,
    its only writer); `Store.open(path)` opens an existing one (report, recommend). Use as a context manager."""

    def __init__(self, path: str, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    @classmethod
    def create(cls, out_dir: str) -> Store:
        path = store_path(out_dir)
        problem = store_problem(path) if os.path.exists(path) else None
        if problem:
            raise InputError(f"{path} exists and is not an edgebb sweep store, {problem}; sweep into another folder "
                             "(nothing was changed)")
        os.makedirs(out_dir, exist_ok=True)
        conn = _connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        with _transaction(conn):
            for ddl in _DDL:
                conn.execute(ddl)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (now(),))
        return cls(path, conn)

    @classmethod
    def open(cls, path: str) -> Store:
        """An existing store (a folder holding sweep.sqlite, or the file); InputError if it is not one."""
        if os.path.isdir(path):
            path = store_path(path)
        if not os.path.exists(path):
            raise InputError(f"no sweep store at {path} (edgebb sweep -o FOLDER writes FOLDER/{FILE})")
        problem = store_problem(path)
        if problem:
            raise InputError(f"{path} is not an edgebb sweep store: {problem}")
        return cls(path, _connect(path))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------- writes

    def start_run(self, spec: dict, keys: list[str], data_fingerprint: str | None, notes: list[str]) -> int:
        with _transaction(self.conn):
            cur = self.conn.execute("INSERT INTO runs (started, status, spec, keys, data_fingerprint, notes) "
                                    "VALUES (?, 'running', ?, ?, ?, ?)",
                                    (now(), json.dumps(spec), json.dumps(keys), data_fingerprint, json.dumps(notes)))
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('spec', ?)", (json.dumps(spec),))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str) -> None:
        with _transaction(self.conn):
            self.conn.execute("UPDATE runs SET finished = ?, status = ? WHERE id = ?", (now(), status, run_id))

    def put_stage(self, key: str, kind: str, model: str, result: dict) -> None:
        with _transaction(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?, ?)",
                              (key, kind, model, json.dumps(result), now()))

    def put_cell(self, row: dict) -> None:
        """Write one cell in its own transaction (replacing an earlier row with the same key)."""
        self.put_cells([row])

    def put_cells(self, rows: Iterable[dict]) -> None:
        """Write cells, one transaction each: an interruption between two keeps the first."""
        for row in rows:
            values = [json.dumps(row.get(n)) if n in JSON_COLUMNS and row.get(n) is not None else row.get(n)
                      for n in NAMES]
            with _transaction(self.conn):
                self.conn.execute(f"INSERT OR REPLACE INTO cells ({', '.join(NAMES)}) VALUES "
                                  f"({', '.join('?' * len(NAMES))})", values)

    # -------------------------------------------------------------------------------------------------- reads

    def stage(self, key: str) -> dict | None:
        row = self.conn.execute("SELECT result FROM stages WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def statuses(self) -> dict[str, str]:
        """key -> status of every cell in the store."""
        return dict(self.conn.execute("SELECT key, status FROM cells"))

    def cells(self, keys: Iterable[str] | None = None) -> list[dict]:
        """Cell rows as dicts (JSON columns decoded), in insertion order; only `keys` when given."""
        rows = [self._row(r) for r in self.conn.execute(f"SELECT {', '.join(NAMES)} FROM cells ORDER BY rowid")]
        if keys is None:
            return rows
        by_key = {r["key"]: r for r in rows}
        return [by_key[k] for k in keys if k in by_key]

    def _row(self, values) -> dict:
        row = dict(zip(NAMES, values))
        for name in JSON_COLUMNS:
            if row[name] is not None:
                row[name] = json.loads(row[name])
        for name in ("emulated", "software", "pretrained"):
            if row[name] is not None:
                row[name] = bool(row[name])
        if row["weights"] is not None:  # older stores wrote whether the family had ImageNet weights, not what was used
            row["pretrained"] = started_pretrained(row["weights"])
        return row

    def runs(self) -> list[dict]:
        out = []
        for values in self.conn.execute("SELECT id, started, finished, status, spec, keys, data_fingerprint, notes "
                                        "FROM runs ORDER BY id"):
            run = dict(zip(("id", "started", "finished", "status", "spec", "keys", "data_fingerprint", "notes"),
                           values))
            for name in ("spec", "keys", "notes"):
                run[name] = json.loads(run[name]) if run[name] else None
            out.append(run)
        return out

    def meta(self, key: str):
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def integrity(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def view(self) -> tuple[list[dict], list[str]]:
        """The cells people look at, and notes on what was left out: one row per configuration (backbone, width,
        size, recipe, runtime, target), without rows measured on other data than the latest sweep's (their
        accuracy is on another data set).

        The row of a configuration is the one the newest sweep that asked for it used, measured or reused (a
        sweep reuses a finished cell by its key: edgebb.selection.sweep), so the view is what that sweep's table
        showed: a run that failed (a too-short --timeout) and then the first command again shows the first
        command's cells, not the failed ones, though those were written later. A run lists the keys it asked
        for (`runs.keys`) and a row names the run that wrote it (`run_id`: `recommend --measure` writes under the
        newest run); between rows of the same run, the later written wins."""
        runs = self.runs()
        latest = runs[-1] if runs else None
        data = latest["data_fingerprint"] if latest else None
        asked: dict[str, int] = {}  # key -> the newest run that asked for it
        for run in runs:
            for key in run["keys"] or []:
                asked[key] = run["id"]
        chosen: dict[tuple, tuple[int, dict]] = {}
        other_data = 0
        for row in self.cells():  # insertion order
            if data is not None and row["data_fingerprint"] not in (data, None) or \
                    data is None and latest and row["data_fingerprint"] is not None:
                other_data += 1
                continue
            identity = tuple(row[k] for k in IDENTITY)
            used = max(asked.get(row["key"], 0), row["run_id"] or 0)
            if identity not in chosen or used >= chosen[identity][0]:
                chosen[identity] = (used, row)
        notes = [f"{other_data} cell(s) of an earlier sweep on other data left out"] if other_data else []
        return [row for _, row in chosen.values()], notes


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error, Ctrl-C included)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False
