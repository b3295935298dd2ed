"""Opening a store: URL resolution, short-lived connections, lock retry, automatic migrations."""

from __future__ import annotations

import atexit
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

from promptlab_nb.core.errors import InvalidStore, StoreLocked, StoreMissing
from promptlab_nb.store import migrate

DEFAULT_FILE = "promptlab.duckdb"
LINGER_SECONDS = 0.5
DUCKDB_MAGIC = b"DUCK"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


def resolve_url(url: str | Path | None) -> str:
    """A SQLAlchemy URL from what a user passes: a URL, a file path, or nothing (./promptlab.duckdb)."""
    if url is None or str(url) == "":
        url = DEFAULT_FILE
    url = str(url)
    if "://" in url:
        return url
    return f"duckdb:///{Path(url).expanduser().resolve()}"


def describe(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "duckdb":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def duckdb_file(url: str) -> Path | None:
    """The file of a DuckDB store URL; None for PostgreSQL and in-memory stores."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "duckdb" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def require_existing(url: str | Path) -> str:
    """The resolved URL of a store that exists already: opening it through the server never creates one."""
    resolved = resolve_url(url)
    file = duckdb_file(resolved)
    if file is not None and not file.is_file():
        raise StoreMissing(describe(resolved), existed=False)
    return resolved


def _check_duckdb_file(path: str) -> None:
    file = Path(path)
    if not file.exists() or file.stat().st_size == 0:
        return
    with file.open("rb") as handle:
        header = handle.read(12)
    if header[8:12] != DUCKDB_MAGIC:
        raise InvalidStore(path, "the file is not a DuckDB database")


def _is_lock_conflict(error: Exception) -> bool:
    return "Could not set lock" in str(error) or "Conflicting lock" in str(error)


def _lock_holder(error: Exception) -> str | None:
    found = _LOCK_HOLDER.search(str(error))
    return f"{found['program']} (PID {found['pid']})" if found else None


class _FileKeeper:
    """Keeps one DuckDB connection open for ``linger`` seconds after the last unit of work.

    Opening a DuckDB file costs about 30 ms (and closing it a checkpoint); while one connection is
    open, the next opens in under a millisecond. Another process waits at most ``linger`` seconds
    after this one goes quiet.
    """

    def __init__(self, linger: float):
        self._linger = linger
        self._connection = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def keep(self, open_connection) -> None:
        with self._lock:
            if self._connection is None:
                self._connection = open_connection()
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._linger, self.release)
            self._timer.daemon = True
            self._timer.start()

    def release(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class Database:
    """One store. Every unit of work opens a connection and gives it back at once, so two
    notebooks can share one DuckDB file; a lock conflict is retried with backoff."""

    def __init__(self, url: str | Path | None = None, *, lock_timeout: float = 30.0):
        self.url = resolve_url(url)
        self.location = describe(self.url)
        self.lock_timeout = lock_timeout
        self.backend = make_url(self.url).get_backend_name()
        self._keeper = _FileKeeper(LINGER_SECONDS)
        atexit.register(self._keeper.release)
        self.engine = self._create_engine()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._opened = False
        try:
            self.revision = migrate.upgrade(self.engine, self.location)
        except BaseException:
            self.dispose()
            raise
        self._opened = True

    @property
    def is_duckdb(self) -> bool:
        return self.backend == "duckdb"

    def _create_engine(self) -> Engine:
        if not self.is_duckdb:
            return create_engine(self.url, pool_pre_ping=True)
        database = make_url(self.url).database or ":memory:"
        if database == ":memory:":
            return create_engine(self.url, poolclass=StaticPool)
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        _check_duckdb_file(database)
        engine = create_engine(self.url, poolclass=NullPool)
        event.listen(engine, "do_connect", self._connect_when_unlocked)
        return engine

    def _connect_and_keep(self, dialect, cargs, cparams):
        connection = dialect.connect(*cargs, **cparams)
        self._keeper.keep(lambda: dialect.connect(*cargs, **cparams))
        return connection

    def _check_still_there(self) -> None:
        """A store deleted while this Lab uses it is not silently replaced by an empty one."""
        file = duckdb_file(self.url)
        if self._opened and file is not None and not file.exists():
            self._keeper.release()
            raise StoreMissing(self.location)

    def _connect_when_unlocked(self, dialect, connection_record, cargs, cparams):
        self._check_still_there()
        started = time.monotonic()
        delay = 0.005
        while True:
            try:
                return self._connect_and_keep(dialect, cargs, cparams)
            except Exception as error:
                if not _is_lock_conflict(error):
                    raise InvalidStore(self.location, str(error).splitlines()[0]) from error
                waited = time.monotonic() - started
                if waited >= self.lock_timeout:
                    raise StoreLocked(self.location, _lock_holder(error), waited) from error
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self):
        """A raw DBAPI connection for bulk work (DuckDB: Arrow inserts, SQL to DataFrames)."""
        with self.engine.connect() as connection:
            try:
                yield connection
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    def dispose(self) -> None:
        self._keeper.release()
        self.engine.dispose()
