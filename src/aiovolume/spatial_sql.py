"""CloudVolume's SQL variant of the spatial index, for sqlite (``spatial_index_db``).

A database built from a layer's ``*.spatial`` files (``SpatialIndex.to_sqlite``) answers "which
files hold label L" and "which labels exist" without reading every index file. The schema is
CloudVolume's, so a database built by either library serves the other:

    index_files(id INTEGER PRIMARY KEY AUTOINCREMENT, filename VARCHAR(100))
    file_lookup(label INTEGER, fid INTEGER)    -- unique (label, fid), indexed by fid

Labels are uint64; sqlite stores signed 64-bit integers, so labels ≥ 2^63 are stored wrapped, as
CloudVolume does, and read back unwrapped. Blocking functions: callers run them in a thread.
MySQL and PostgreSQL (CloudVolume's other back ends) are not supported.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from typing import Iterable, Mapping

import numpy as np

from .exceptions import UnsupportedFeatureError


def sqlite_path(db: str) -> str:
    """The file of a ``spatial_index_db`` value: ``sqlite:///abs.db``, ``sqlite://rel.db`` or a path."""
    if not isinstance(db, str) or not db:
        raise UnsupportedFeatureError(f"spatial_index_db={db!r}: expected a sqlite path or sqlite:// URL")
    scheme, sep, rest = db.partition("://")
    if not sep:
        return db
    if scheme != "sqlite":
        raise UnsupportedFeatureError(
            f"spatial_index_db={scheme}://...: only sqlite spatial index databases are supported by aiovolume "
            "(CloudVolume also reads MySQL and PostgreSQL ones)")
    return rest


def _signed(label: int) -> int:
    return int(np.uint64(label).view(np.int64))


def build(db: str, files: Mapping[str, Iterable[int]], create_indices: bool = True) -> None:
    """Write the database ``db`` (replacing its tables) from ``{index file name: labels}``."""
    conn = sqlite3.connect(sqlite_path(db))
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS file_lookup")
        cur.execute("DROP TABLE IF EXISTS index_files")
        cur.execute("CREATE TABLE index_files (id INTEGER PRIMARY KEY AUTOINCREMENT, filename VARCHAR(100) NOT NULL)")
        cur.execute("CREATE INDEX idxfname ON index_files (filename)")
        cur.execute("CREATE TABLE file_lookup (label INTEGER NOT NULL, fid INTEGER NOT NULL)")
        for name, labels in files.items():
            cur.execute("INSERT INTO index_files(filename) VALUES (?)", (os.path.basename(name),))
            fid = cur.lastrowid
            cur.executemany("INSERT INTO file_lookup(label, fid) VALUES (?, ?)",
                            ((_signed(label), fid) for label in labels))
        if create_indices:
            cur.execute("CREATE UNIQUE INDEX pk_label_fid ON file_lookup (label, fid)")
            cur.execute("CREATE INDEX fname ON file_lookup (fid)")
            cur.execute("ANALYZE file_lookup")
        conn.commit()
    finally:
        conn.close()


def _connect(db: str) -> sqlite3.Connection:
    path = sqlite_path(db)
    if not os.path.exists(path):
        raise UnsupportedFeatureError(f"spatial_index_db {db!r}: no such database (build it with to_sqlite)")
    return sqlite3.connect(path)


def all_labels(db: str) -> set[int]:
    """Every label in the database."""
    conn = _connect(db)
    try:
        rows = conn.execute("SELECT DISTINCT label FROM file_lookup").fetchall()
    finally:
        conn.close()
    return set(np.array([r[0] for r in rows], dtype=np.int64).view(np.uint64).tolist())


def files_per_label(db: str, labels: Iterable[int] | None = None) -> dict[int, list[str]]:
    """``{label: [index file names]}`` for ``labels`` (all when None)."""
    sql = "SELECT file_lookup.label, index_files.filename FROM file_lookup, index_files " \
          "WHERE file_lookup.fid = index_files.id"
    params: list[int] = []
    if labels is not None:
        params = [_signed(label) for label in labels]
        if not params:
            return {}
        sql += f" AND file_lookup.label IN ({','.join('?' * len(params))})"
    conn = _connect(db)
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.close()
    found: dict[int, list[str]] = defaultdict(list)
    for label, name in rows:
        found[int(np.int64(label).view(np.uint64))].append(name if isinstance(name, str) else name.decode())
    return dict(found)


__all__ = ["sqlite_path", "build", "all_labels", "files_per_label"]
