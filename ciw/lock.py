"""One lock per warehouse: a PostgreSQL advisory lock, so that two ``ciw`` commands that write
never run against the same database at once, from one host or from two.

The lock is session-level and held on a connection of its own for the life of the command:
it goes when the command ends, and when its process dies however it dies (the server ends the
session with the connection). The connection's ``application_name`` says which command holds
it, from which process on which host, so a refused command can tell whom it waited for.
Advisory locks belong to one database: the lock is per warehouse database, not per server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2

from ciw.warehouse import Warehouse, WarehouseError

# the advisory lock's key: a signed 64-bit integer of our own, the same in every ciw version
LOCK_KEY = int.from_bytes(hashlib.sha256(b"ciw warehouse lock").digest()[:8], "big", signed=True)
APPLICATION_PREFIX = "ciw "
# TCP keepalives on the lock's connection: a server that loses the host (network cut, power)
# ends the session, and frees the lock, within about two minutes
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 6,
}


class WarehouseLocked(WarehouseError):
    """Another command holds the warehouse's lock; the message says which."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock, as the server sees the holding session."""

    application: str
    pid: int
    client: str | None
    since: dt.datetime | None

    def describe(self) -> str:
        since = ""
        if self.since is not None:
            since = f" since {self.since.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
        where = f" from {self.client}" if self.client else ""
        name = self.application or "a session without application_name"
        return f"{name!r} (server pid {self.pid}{where}{since})"


def _split_key(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as classid (high 32 bits), objid (low 32 bits)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def lock_holders(conn: psycopg2.extensions.connection, key: int = LOCK_KEY) -> list[LockHolder]:
    """The sessions that hold the lock in the connection's database (at most one)."""
    classid, objid = _split_key(key)
    with conn.cursor() as cur:
        cur.execute(
            "select activity.application_name, locks.pid, host(activity.client_addr), "
            "activity.backend_start "
            "from pg_catalog.pg_locks as locks "
            "left join pg_catalog.pg_stat_activity as activity on activity.pid = locks.pid "
            "where locks.locktype = 'advisory' and locks.granted "
            "and locks.database = (select oid from pg_catalog.pg_database "
            "where datname = current_database()) "
            "and locks.classid = %s and locks.objid = %s and locks.objsubid = 1",
            (classid, objid),
        )
        return [LockHolder(name or "", pid, client, since) for name, pid, client, since in cur]


def application_name(command: str) -> str:
    """``ciw <command> pid <pid> on <host>``, cut to PostgreSQL's 63 bytes."""
    name = f"{APPLICATION_PREFIX}{command} pid {os.getpid()} on {socket.gethostname()}"
    return name.encode()[:63].decode(errors="ignore")


@contextlib.contextmanager
def warehouse_lock(warehouse: Warehouse, command: str, key: int = LOCK_KEY) -> Iterator[None]:
    """Hold the warehouse's lock while the block runs; raise WarehouseLocked at once when
    another session holds it (no waiting: a scheduled run that finds the last one still busy
    should skip its turn, not queue behind it)."""
    kwargs = {"connect_timeout": 10, **_KEEPALIVES, **warehouse.dsn.connect_kwargs()}
    kwargs["application_name"] = application_name(command)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        raise WarehouseError(
            f"cannot connect to the warehouse at {warehouse.dsn.redacted()}: {exc}".strip()
        ) from exc
    try:
        conn.autocommit = True  # a session lock outlives transactions; hold no snapshot
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (key,))
            (acquired,) = cur.fetchone()
        if not acquired:
            holders = lock_holders(conn, key)
            who = holders[0].describe() if holders else "another session"
            raise WarehouseLocked(
                f"the warehouse {warehouse.dsn.database!r} is locked by {who}: another ciw "
                "command is writing to it. Nothing was done; run again when it has finished "
                "(the lock goes with its session, also when that process dies)"
            )
        yield
    finally:
        conn.close()  # ends the session: the server releases the lock
