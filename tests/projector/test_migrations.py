"""Versioned migrations: applied once, recorded, tamper-evident; the projector refuses a bare database."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from projector import (
    MigrationError,
    NotMigratedError,
    Projector,
    load_migrations,
    migrate,
    pending_migrations,
    write_events,
)
from projector.synthetic import lifecycle


def test_migrate_applies_every_file_once_and_records_it(new_database: str) -> None:
    names = [m.name for m in load_migrations()]
    assert names == sorted(names) and names[0].startswith("0001_")
    assert migrate(new_database) == names
    assert migrate(new_database) == []  # idempotent
    with psycopg.connect(new_database) as conn:
        recorded = conn.execute("SELECT name FROM store.schema_migrations ORDER BY version").fetchall()
        assert [r[0] for r in recorded] == names
        assert pending_migrations(conn) == []


def test_an_edited_migration_is_refused(new_database: str, tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "projector" / "migrations"
    copy = tmp_path / "migrations"
    shutil.copytree(source, copy)
    migrate(new_database, directory=copy)
    first = sorted(copy.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(new_database, directory=copy)


def test_a_new_migration_file_is_applied_on_the_next_run(new_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(Path(__file__).parents[2] / "projector" / "migrations", copy)
    migrate(new_database, directory=copy)
    (copy / "9999_extra.sql").write_text("CREATE TABLE store.extra (id int);")
    assert migrate(new_database, directory=copy) == ["9999_extra.sql"]
    with psycopg.connect(new_database) as conn:
        assert conn.execute("SELECT to_regclass('store.extra') IS NOT NULL").fetchone() == (True,)


def test_a_failing_migration_is_rolled_back_and_not_recorded(new_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(Path(__file__).parents[2] / "projector" / "migrations", copy)
    (copy / "9999_broken.sql").write_text("CREATE TABLE store.half (id int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match=r"9999_broken\.sql failed"):
        migrate(new_database, directory=copy)
    with psycopg.connect(new_database) as conn:
        assert conn.execute("SELECT to_regclass('store.half')").fetchone() == (None,)
        versions = {r[0] for r in conn.execute("SELECT version FROM store.schema_migrations")}
        assert "9999" not in versions and "0001" in versions


def test_projector_refuses_an_unmigrated_database(new_database: str, kafka_bootstrap: str) -> None:
    projector = Projector(bootstrap=kafka_bootstrap, dsn=new_database, group_id="never-joins", topics=["x"])
    with pytest.raises(NotMigratedError, match=r"not migrated .*run `offshore db migrate`"):
        projector.start()
    with pytest.raises(NotMigratedError):
        write_events(new_database, lifecycle("1"))


def test_projector_refuses_a_partly_migrated_database(new_database: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    copy.mkdir()
    source = Path(__file__).parents[2] / "projector" / "migrations"
    shutil.copy(sorted(source.glob("0001_*.sql"))[0], copy)
    migrate(new_database, directory=copy)
    with pytest.raises(NotMigratedError, match=r"0002_views\.sql"):
        write_events(new_database, lifecycle("1"))
