"""Opening the store: engine, sessions, SQLite pragmas and schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from nlpipe.config import Settings
from nlpipe.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Store:
    """An open database: use ``with store.session() as s:`` for a unit of work (committed on success)."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """A round trip to the database (``SELECT 1``); raises what the driver raises when it cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ModuleNotFoundError, ValueError) as exc:
        raise ConfigError(
            "E010",
            f"NLPIPE_DATABASE_URL cannot be used: {exc}. Give a SQLAlchemy URL such as "
            "sqlite:///path/nlpipe.db or postgresql+psycopg://user:pass@host/db.",
            field="NLPIPE_DATABASE_URL",
        ) from exc


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> str:
    """Bring the database schema up to this nlpipe's newest revision; return that revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    try:
        with engine.begin() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return head
            known = {rev.revision for rev in script.walk_revisions()}
            if current is not None and current not in known:
                raise ConfigError(
                    "E011",
                    f"The database at {engine.url.render_as_string(hide_password=True)} has schema revision "
                    f"{current!r}, which this nlpipe does not know: it was written by a newer nlpipe. "
                    "Upgrade nlpipe, or point NLPIPE_DATABASE_URL at another database.",
                )
            command.upgrade(_alembic_config(conn), "head")
    except OperationalError as exc:
        raise ConfigError(
            "E012",
            f"Cannot open the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}. "
            "Check NLPIPE_HOME / NLPIPE_DATABASE_URL and that the server is running.",
        ) from exc
    return head


def open_store(settings: Settings) -> Store:
    """Open (and if needed create or upgrade) the database named by the settings."""
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
