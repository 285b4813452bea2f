"""Short-lived shared state (counters, results with a time to live).

In-process by default; in the database when several server processes share one machine
(``modelyard serve --workers N``); Redis when a broker URL is set, so every replica sees the
same values. Sign-in throttling and async prediction results (``serving/results.py``) use it.
"""

from __future__ import annotations

import math
import threading
import time
from itertools import count
from typing import Any, Protocol

from sqlalchemy import Float, LargeBinary, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, Database

__all__ = [
    "DatabaseStore",
    "EphemeralStore",
    "EphemeralValue",
    "MemoryStore",
    "RedisStore",
    "build_store",
]


class EphemeralStore(Protocol):
    def incr(self, key: str, ttl_seconds: int, amount: int = 1) -> int:
        """Add ``amount`` to a counter, atomically, and answer its new value; the counter
        expires ``ttl_seconds`` after the increment that created it."""
        ...

    def get_int(self, key: str) -> int: ...

    def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires (0 when absent)."""
        ...

    def delete(self, key: str) -> None: ...

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``, replacing what was there."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """The live value stored by ``set_bytes``, or None."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """A dict with expiry times, safe across threads of one process."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}
        self._blobs: dict[str, tuple[bytes, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry

    def incr(self, key: str, ttl_seconds: int, amount: int = 1) -> int:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                now = self._clock()
                entry = (0, now + ttl_seconds)
                # Swept now and then: sign-in counts are keyed by whatever login was tried.
                if len(self._values) % 1024 == 1023:
                    for stale in [k for k, (_, end) in self._values.items() if end <= now]:
                        del self._values[stale]
            value = entry[0] + amount
            self._values[key] = (value, entry[1])
            return value

    def get_int(self, key: str) -> int:
        with self._lock:
            entry = self._live(key)
            return 0 if entry is None else entry[0]

    def ttl(self, key: str) -> int:
        with self._lock:
            entry = self._live(key)
            return 0 if entry is None else max(1, int(entry[1] - self._clock() + 0.999))

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)
            self._blobs.pop(key, None)

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._lock:
            now = self._clock()
            self._blobs[key] = (value, now + ttl_seconds)
            # Swept now and then, so ids nobody fetches do not pile up.
            if len(self._blobs) % 1024 == 0:
                for stale in [k for k, (_, end) in self._blobs.items() if end <= now]:
                    del self._blobs[stale]

    def get_bytes(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._blobs.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._blobs[key]
                return None
            return entry[0]

    def close(self) -> None:
        with self._lock:
            self._values.clear()
            self._blobs.clear()


class RedisStore:
    """The same operations on Redis, with keys under one prefix."""

    def __init__(self, url: str, prefix: str = "modelyard:") -> None:
        import redis  # the scale-out extra; only needed when a broker URL is set

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    def incr(self, key: str, ttl_seconds: int, amount: int = 1) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.incrby(name, amount)
        pipe.expire(name, ttl_seconds, nx=True)
        value, _ = pipe.execute()
        return int(value)

    def get_int(self, key: str) -> int:
        value = self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    def ttl(self, key: str) -> int:
        value = int(self._redis.ttl(self._prefix + key))
        return max(value, 0)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))

    def get_bytes(self, key: str) -> bytes | None:
        value = self._redis.get(self._prefix + key)
        return value if isinstance(value, bytes) else None

    def close(self) -> None:
        self._redis.close()


class EphemeralValue(Base):
    """One value of ``DatabaseStore``: a counter (``i:`` keys) or bytes (``b:`` keys)."""

    __tablename__ = "ephemeral_values"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    number: Mapped[int | None] = mapped_column(default=None)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Wall-clock seconds (time.time()): every process of the machine reads the same clock.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


_TABLE: Table = EphemeralValue.__table__  # type: ignore[assignment]
_SWEEP_EVERY = 256  # writes between two deletions of every expired value


class DatabaseStore:
    """The same operations on a table of the service's database, for server processes that
    share one machine (and its database) but not their memory.

    Every write starts with a write statement, so on SQLite the transaction takes the write
    lock at once (waiting its turn) instead of upgrading a read lock, which could fail.
    """

    def __init__(self, database: Database, clock: Any = time.time) -> None:
        self._database = database
        self._clock = clock
        # Both dialects' INSERT ... ON CONFLICT DO UPDATE.
        self._insert = (
            postgresql.insert if database.engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._writes = count(1)

    def _upsert(self, key: str, **values: Any) -> Any:
        return self._insert(_TABLE).values(key=key, **values)

    def _sweep(self, connection: Any, now: float) -> None:
        if next(self._writes) % _SWEEP_EVERY == 0:
            connection.execute(delete(_TABLE).where(_TABLE.c.expires_at <= now))

    def incr(self, key: str, ttl_seconds: int, amount: int = 1) -> int:
        name, now = "i:" + key, self._clock()
        with self._database.engine.begin() as connection:
            connection.execute(
                delete(_TABLE).where(_TABLE.c.key == name, _TABLE.c.expires_at <= now)
            )
            statement = self._upsert(name, number=amount, expires_at=now + ttl_seconds)
            statement = statement.on_conflict_do_update(
                index_elements=[_TABLE.c.key], set_={"number": _TABLE.c.number + amount}
            ).returning(_TABLE.c.number)
            value = connection.execute(statement).scalar_one()
            self._sweep(connection, now)
        return int(value)

    def _live(self, name: str, column: Any) -> tuple[Any, float] | None:
        with self._database.engine.connect() as connection:
            row = connection.execute(
                select(column, _TABLE.c.expires_at).where(
                    _TABLE.c.key == name, _TABLE.c.expires_at > self._clock()
                )
            ).first()
        return None if row is None else (row[0], row[1])

    def get_int(self, key: str) -> int:
        found = self._live("i:" + key, _TABLE.c.number)
        return 0 if found is None else int(found[0])

    def ttl(self, key: str) -> int:
        found = self._live("i:" + key, _TABLE.c.number)
        return 0 if found is None else max(1, math.ceil(found[1] - self._clock()))

    def delete(self, key: str) -> None:
        with self._database.engine.begin() as connection:
            connection.execute(delete(_TABLE).where(_TABLE.c.key.in_(("i:" + key, "b:" + key))))

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        now = self._clock()
        with self._database.engine.begin() as connection:
            statement = self._upsert("b:" + key, blob=value, expires_at=now + ttl_seconds)
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[_TABLE.c.key],
                    set_={"blob": value, "expires_at": now + ttl_seconds},
                )
            )
            self._sweep(connection, now)

    def get_bytes(self, key: str) -> bytes | None:
        found = self._live("b:" + key, _TABLE.c.blob)
        return None if found is None else bytes(found[0])

    def close(self) -> None:
        """Nothing to release: the database is the app's."""


def build_store(
    broker_url: str | None, prefix: str = "modelyard:", *, shared: Database | None = None
) -> EphemeralStore:
    """Redis for a broker URL; else the ``shared`` database (several server processes of one
    machine); else this process's memory."""
    if broker_url and broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(broker_url, prefix)
    if shared is not None:
        return DatabaseStore(shared)
    return MemoryStore()
