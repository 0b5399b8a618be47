"""Bulk writes for large imports and caches: plain tuples straight to the driver, COPY on PostgreSQL.

SQLAlchemy's ORM and ``insert()`` executemany cost about 10 microseconds per row in Python (parameter dicts,
per-row defaults and type processing). An import of a million documents writes several million rows, so the
import and the queue's score cache hand rows to the database driver directly, in the caller's transaction:

- PostgreSQL (psycopg 3): ``COPY table (columns) FROM STDIN`` through ``cursor.copy()``; rows that may already
  be there (documents, cached scores) are copied into a temporary table and inserted from it with
  ``ON CONFLICT DO NOTHING`` (``RETURNING`` the new ids where the caller needs them).
- SQLite and anything else: ``executemany`` of an ``INSERT`` with positional parameters (``ON CONFLICT DO
  NOTHING`` where rows may exist), and :meth:`BulkWriter.large_cache` keeps the growing indexes in memory.

Values are given as the database expects them: ``created_at`` is filled in by the writer, JSON columns take
text made with :func:`json.dumps` (:meth:`BulkWriter.json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Table, func, select
from sqlalchemy.orm import Session

from nlpipe.store.schema import utcnow

ROWS_PER_CALL = 5000


class BulkWriter:
    """Write rows of whole tables in the session's current transaction (nothing is committed here)."""

    def __init__(self, session: Session) -> None:
        self.conn = session.connection()
        self.dialect = self.conn.dialect
        self.copy = self.dialect.name == "postgresql" and self.dialect.driver == "psycopg"
        now = utcnow()
        if self.copy:
            self.now: Any = now
        else:  # the text SQLAlchemy would store (SQLite has no datetime type)
            process = self.dialect.type_descriptor(DateTime(timezone=True)).bind_processor(self.dialect)
            self.now = process(now) if process else now

    def _driver_cursor(self) -> Any:
        """A cursor of the driver's own connection (psycopg's, for COPY); an open connection always has one."""
        driver = self.conn.connection.driver_connection
        assert driver is not None
        return driver.cursor()

    def json(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def _names(self, table: Table, columns: Sequence[str]) -> tuple[str, bool]:
        """The quoted column list (with ``created_at`` when the table has it and the rows do not)."""
        stamp = "created_at" in table.c and "created_at" not in columns
        quote = self.dialect.identifier_preparer.quote
        return ", ".join(quote(c) for c in [*columns, *(["created_at"] if stamp else [])]), stamp

    def _copy(self, cur: Any, into: str, names: str, rows: Iterable[Sequence[Any]], stamp: bool) -> int:
        n = 0
        with cur.copy(f"COPY {into} ({names}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row((*row, self.now) if stamp else row)
                n += 1
        return n

    def _staged(
        self, cur: Any, table: Table, names: str, rows: Iterable[Sequence[Any]], stamp: bool, returning: str = ""
    ) -> tuple[int, list[Any]]:
        """COPY ``rows`` into a temporary table with ``table``'s columns (and no constraints), insert them from
        there with ``ON CONFLICT DO NOTHING`` (and ``returning``), drop it: (rows given, rows returned)."""
        quote = self.dialect.identifier_preparer.quote
        target, stage = quote(table.name), quote(f"bulk_{table.name}")
        cur.execute(f"CREATE TEMP TABLE {stage} AS SELECT {names} FROM {target} WITH NO DATA")
        n = self._copy(cur, stage, names, rows, stamp)
        cur.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ON CONFLICT DO NOTHING {returning}")
        found = cur.fetchall() if returning else []
        cur.execute(f"DROP TABLE {stage}")
        return n, found

    def insert(
        self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, skip_existing: bool = False
    ) -> int:
        """Insert ``rows`` (tuples in ``columns`` order; ``created_at`` is added when the table has it).

        ``skip_existing``: rows that would break a unique constraint are left out (``ON CONFLICT DO NOTHING``;
        on PostgreSQL the rows are copied to a temporary table first and inserted from there). Returns the
        number of rows given.
        """
        names, stamp = self._names(table, columns)
        target = self.dialect.identifier_preparer.quote(table.name)
        if self.copy:
            with self._driver_cursor() as cur:
                if skip_existing:
                    return self._staged(cur, table, names, rows, stamp)[0]
                return self._copy(cur, target, names, rows, stamp)
        marks = ", ".join("?" if self.dialect.paramstyle == "qmark" else "%s" for _ in names.split(", "))
        sql = f"INSERT INTO {target} ({names}) VALUES ({marks})"
        if skip_existing:
            sql += " ON CONFLICT DO NOTHING"
        n = 0
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append((*row, self.now) if stamp else row)
            if len(batch) >= ROWS_PER_CALL:
                self.conn.exec_driver_sql(sql, batch)
                n += len(batch)
                batch = []
        if batch:
            self.conn.exec_driver_sql(sql, batch)
            n += len(batch)
        return n

    def insert_new(
        self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], key: str
    ) -> dict[Any, int]:
        """Insert the rows whose ``key`` (a unique column) is not in the table yet; ``{key: id}`` of the rows
        inserted. The others are left as they are (the caller looks them up)."""
        if self.copy:  # COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING RETURNING
            names, stamp = self._names(table, columns)
            returning = f"RETURNING {self.dialect.identifier_preparer.quote(key)}, id"
            with self._driver_cursor() as cur:
                return dict(self._staged(cur, table, names, rows, stamp, returning)[1])
        # SQLite: new rows get ids past the table's highest one; anything else found there is not ours.
        last = self.max_id(table)
        wanted: set[Any] = set()

        def keyed(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
            at = list(columns).index(key)
            for row in rows:
                wanted.add(row[at])
                yield row

        self.insert(table, columns, keyed(rows), skip_existing=True)
        found = self.conn.execute(select(table.c[key], table.c.id).where(table.c.id > last))
        return {k: i for k, i in found if k in wanted}

    def analyze(self, table: Table) -> None:
        """PostgreSQL: renew the planner's statistics of ``table`` after a bulk write (autovacuum would, later);
        other databases: nothing."""
        if self.dialect.name == "postgresql":
            self.conn.exec_driver_sql(f"ANALYZE {self.dialect.identifier_preparer.quote(table.name)}")

    def max_id(self, table: Table) -> int:
        return int(self.conn.execute(select(func.max(table.c.id))).scalar() or 0)

    @contextmanager
    def large_cache(self, mib: int = 256) -> Iterator[None]:
        """SQLite: a page cache of ``mib`` MiB on this connection while the block runs (index pages of a growing
        table stay in memory instead of being re-read and re-written per batch); other databases: nothing."""
        if self.dialect.name != "sqlite":
            yield
            return
        before = self.conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        self.conn.exec_driver_sql(f"PRAGMA cache_size = {-1024 * mib}")
        try:
            yield
        finally:
            self.conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")
