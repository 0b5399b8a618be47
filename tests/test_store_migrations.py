from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from nlpipe.config import Settings
from nlpipe.errors import ConfigError
from nlpipe.store.db import make_engine, migrate, open_store
from nlpipe.store.schema import Base


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_create_every_table(backend_settings):
    st = open_store(backend_settings)
    names = set(inspect(st.engine).get_table_names())
    assert {"datasets", "documents", "dataset_documents", "splits", "annotations", "models", "jobs"} <= names
    if st.engine.dialect.name == "sqlite":
        with st.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    st.close()


def test_migrations_match_the_declared_tables(backend_settings):
    st = open_store(backend_settings)
    with st.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "schema.py changed without an Alembic revision"
    st.close()


def test_migrations_upgrade_an_older_database(tmp_path):
    """A database left at an older revision (here: empty, no alembic_version) is upgraded on open."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    engine.dispose()
    assert _revision(url) is None
    st = open_store(Settings(database_url=url, home=tmp_path))
    assert _revision(url) == migrate(st.engine)
    assert "unrelated" in inspect(st.engine).get_table_names()
    st.close()


def test_migrations_keep_data_of_a_0001_database(backend_settings):
    """A database written by the first release (revision 0001) opens in this one with its rows intact."""
    from alembic import command

    from nlpipe.store.datasets import load_dataset
    from nlpipe.store.db import _alembic_config

    engine = make_engine(backend_settings.resolved_database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO datasets (id, name, created_at) VALUES (1, 'old', CURRENT_TIMESTAMP)"))
        conn.execute(
            text(
                "INSERT INTO documents (id, sha256, text, mime, created_at) "
                "VALUES (1, :h, 'kept', 'text/plain', CURRENT_TIMESTAMP)"
            ),
            {"h": "0" * 64},
        )
        conn.execute(
            text("INSERT INTO dataset_documents (dataset_id, document_id, created_at) VALUES (1, 1, CURRENT_TIMESTAMP)")
        )
        conn.execute(
            text(
                "INSERT INTO annotations (dataset_id, document_id, kind, label, source, created_at) "
                "VALUES (1, 1, 'label', 'x', 'import', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert _revision(backend_settings.resolved_database_url) == "0001"
    st = open_store(backend_settings)
    assert _revision(backend_settings.resolved_database_url) == migrate(st.engine) != "0001"
    assert "pages" in inspect(st.engine).get_table_names()
    with st.session() as s:
        data = load_dataset(s, "old")
    assert data.texts == ["kept"] and data.labels == [["x"]]
    st.close()


def test_migrations_refuse_a_newer_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_store(Settings(database_url=url, home=tmp_path)).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(ConfigError) as exc:
        open_store(Settings(database_url=url, home=tmp_path))
    assert exc.value.code == "E011" and "newer nlpipe" in exc.value.message


def test_store_bad_database_url(tmp_path):
    with pytest.raises(ConfigError) as exc:
        make_engine("nosuchdb://x")
    assert exc.value.code == "E010"


def test_migrations_0004_adds_the_queue_cache_to_a_0003_database(backend_settings):
    """A database at revision 0003 (before the queue cache) upgrades with its rows intact, its queue is then
    cached, and the revision downgrades again."""
    from alembic import command

    from nlpipe.label.queue import build_queue
    from nlpipe.store.db import _alembic_config
    from nlpipe.store.schema import QueueCache, QueueScore

    engine = make_engine(backend_settings.resolved_database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003")
        conn.execute(text("INSERT INTO datasets (id, name, created_at) VALUES (1, 'old', CURRENT_TIMESTAMP)"))
        for i, words in enumerate(("kept one", "kept two", "kept three"), 1):
            conn.execute(
                text(
                    "INSERT INTO documents (id, sha256, text, mime, created_at) "
                    "VALUES (:i, :h, :t, 'text/plain', CURRENT_TIMESTAMP)"
                ),
                {"i": i, "h": str(i) * 64, "t": words},
            )
            conn.execute(
                text(
                    "INSERT INTO dataset_documents (dataset_id, document_id, created_at) "
                    "VALUES (1, :i, CURRENT_TIMESTAMP)"
                ),
                {"i": i},
            )
        conn.execute(
            text(
                "INSERT INTO annotations (dataset_id, document_id, kind, label, source, author, created_at) "
                "VALUES (1, 1, 'label', 'x', 'human', 'alice', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert _revision(backend_settings.resolved_database_url) == "0003"
    st = open_store(backend_settings)
    assert _revision(backend_settings.resolved_database_url) == migrate(st.engine) != "0003"
    assert {"queue_caches", "queue_scores"} <= set(inspect(st.engine).get_table_names())
    q = build_queue(st, "old", strategy="random", limit=None)
    assert q["pool"] == 2 and {i["preview"] for i in q["items"]} == {"kept two", "kept three"}
    with st.session() as s:
        assert s.query(QueueCache).count() == 1 and s.query(QueueScore).count() == 3
    st.close()
    engine = make_engine(backend_settings.resolved_database_url)
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0003")
    assert "queue_scores" not in inspect(engine).get_table_names()
    engine.dispose()
