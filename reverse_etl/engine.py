"""The sync engine: plan the difference, send it, record it, exactly once.

Per sync (an audience mart -> a channel):

* **plan**: read the audience (only the configured columns, filtered). A *message* sync plans
  every row whose idempotency key is not yet ``sent`` in ``reverse_etl.send_ledger`` (pending
  rows of a crashed run included). A *list* sync diffs against ``reverse_etl.sync_state`` (key
  and payload hash of the last successful sync): adds, updates and, in mirror mode, removes.
* **suppress**, at send time: rows of a customer erased since the build, or to a placeholder
  or hard-bounced contact point, are dropped (reverse_etl/suppression.py); a list sync treats
  them as gone from the audience (a mirror removes them).
* **guard**: a mirror sync that would remove more than ``max_delete_share`` of what the
  destination holds is refused (the audience is probably broken, not the customers gone).
* **send**, batch by batch: message keys are written ``pending`` and committed *before* the
  request, so a crash between sending and recording leaves them pending and the next run sends
  them again with the same idempotency keys (the destination acknowledges, it does not deliver
  twice); accepted records become ``sent`` (list: their hash goes to sync_state), rejected ones
  are ``failed`` with the error in ``reverse_etl.dead_letters`` and are retried on later runs
  until ``max_attempts`` (then ``dead``).
* **log**: one row per run and sync in ``reverse_etl.sync_runs`` (counts, errors, duration).

``dry_run`` plans and reports, and writes nothing and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import Json, execute_values

from ciw.warehouse import relation_exists
from reverse_etl.config import SyncConfig
from reverse_etl.connectors import (
    ConnectorError,
    HttpClient,
    Outcome,
    Record,
    make_connector,
)
from reverse_etl.suppression import SendGuard

log = logging.getLogger(__name__)

SCHEMA = "reverse_etl"
DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.sync_state (
    sync_name text not null,
    record_key text not null,
    row_hash text not null,
    payload jsonb not null,
    synced_at timestamptz not null default now(),
    primary key (sync_name, record_key)
);
create table if not exists {SCHEMA}.dead_letters (
    sync_name text not null,
    record_key text not null,
    payload jsonb,
    error text,
    attempt_count integer not null default 1,
    first_failed_at timestamptz not null default now(),
    last_failed_at timestamptz not null default now(),
    resolved_at timestamptz,
    primary key (sync_name, record_key)
);
create table if not exists {SCHEMA}.sync_runs (
    run_id text not null,
    sync_name text not null,
    audience text not null,
    connector text not null,
    kind text not null,
    mode text not null,
    is_dry_run boolean not null,
    status text not null,
    planned_adds integer not null default 0,
    planned_updates integer not null default 0,
    planned_removes integer not null default 0,
    sent_count integer not null default 0,
    failed_count integer not null default 0,
    dead_count integer not null default 0,
    retry_count integer not null default 0,
    error text,
    started_at timestamptz not null,
    finished_at timestamptz,
    duration_seconds double precision,
    primary key (run_id, sync_name)
);
"""


class SyncRefused(RuntimeError):
    """The guard stopped a sync (e.g. a mirror that would delete too much)."""


@dataclass
class Plan:
    adds: list[Record] = field(default_factory=list)
    updates: list[Record] = field(default_factory=list)
    removes: list[Record] = field(default_factory=list)
    audience_rows: int = 0
    destination_rows: int = 0
    meta: dict[str, dict] = field(default_factory=dict)  # key -> customer_id, reason
    hashes: dict[str, str] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)  # reason -> rows not sent

    @property
    def records(self) -> list[Record]:
        return [*self.adds, *self.updates, *self.removes]


@dataclass
class SyncResult:
    sync: str
    status: str = "ok"
    planned_adds: int = 0
    planned_updates: int = 0
    planned_removes: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    retries: int = 0
    error: str | None = None
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)


def row_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _chunks(items: Sequence[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class SyncEngine:
    """Runs syncs against a warehouse connection factory (psycopg2)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        relation_of: Callable[[str], str],
        sleep: Callable[[float], None] = time.sleep,
        crash_after_send: Callable[[str, list[Record]], None] | None = None,
    ) -> None:
        self.connect = connect
        self.relation_of = relation_of
        self.sleep = sleep
        self.crash_after_send = crash_after_send  # tests: simulate dying between send and record
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    # ------------------------------------------------------------------ setup
    def ensure_tables(self) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(DDL)
            if not relation_exists(cur, f"{SCHEMA}.send_ledger"):
                raise ConnectorError(
                    f"{SCHEMA}.send_ledger does not exist: build the models first (dbt build "
                    f"creates it before the audiences)"
                )

    # ------------------------------------------------------------------ planning
    def _read_audience(self, cur, sync: SyncConfig) -> list[dict[str, Any]]:
        relation = self.relation_of(sync.audience)
        if not relation_exists(cur, relation):
            raise ConnectorError(f"audience {relation} does not exist: build the models first")
        columns = sync.columns()
        where = " and ".join(f'"{column}" = %s' for column in sync.filter) or "true"
        quoted = ", ".join(f'"{c}"' for c in columns)
        cur.execute(
            f"select {quoted} from {relation} where {where} order by 1",
            list(sync.filter.values()),
        )
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]

    @staticmethod
    def _payload(sync: SyncConfig, row: dict[str, Any]) -> dict[str, Any]:
        payload = {}
        for target, source in sync.fields.items():
            value = source[1:] if source.startswith("=") else row.get(source)
            if isinstance(value, dt.datetime | dt.date):
                value = value.isoformat()
            elif value is not None and not isinstance(value, str | int | float | bool):
                value = str(value)
            payload[target] = value
        return payload

    def plan(self, sync: SyncConfig) -> Plan:
        plan = Plan()
        with self.connect() as conn, conn.cursor() as cur:
            rows = self._read_audience(cur, sync)
            plan.audience_rows = len(rows)
            rows = self._suppress(cur, rows, plan)
            if sync.kind == "message":
                cur.execute(
                    f"select idempotency_key, status from {SCHEMA}.send_ledger where audience = %s",
                    (sync.audience_label,),
                )
                done = {key for key, status in cur.fetchall() if status in ("sent", "dead")}
                for row in rows:
                    key = str(row[sync.key])
                    if key in done:
                        continue
                    plan.adds.append(Record(key, "upsert", self._payload(sync, row), key))
                    plan.meta[key] = {"customer_id": row["customer_id"], "reason": row["reason"]}
                return plan
            cur.execute(
                f"select record_key, row_hash, payload from {SCHEMA}.sync_state "
                f"where sync_name = %s",
                (sync.name,),
            )
            state = {key: (digest, payload) for key, digest, payload in cur.fetchall()}
        plan.destination_rows = len(state)
        seen = set()
        for row in rows:
            key = str(row[sync.key])
            seen.add(key)
            payload = self._payload(sync, row)
            digest = row_hash(payload)
            plan.hashes[key] = digest
            record = Record(key, "upsert", payload, f"{key}:{digest[:16]}")
            if key not in state:
                plan.adds.append(record)
            elif state[key][0] != digest:
                plan.updates.append(record)
        if sync.mode == "mirror":
            for key, (digest, payload) in state.items():
                if key not in seen:
                    plan.removes.append(
                        Record(key, "delete", payload, f"{key}:delete:{digest[:16]}")
                    )
        return plan

    def _suppress(self, cur, rows: list[dict[str, Any]], plan: Plan) -> list[dict[str, Any]]:
        """The audience rows that may be sent now (erasure and suppression checked again)."""
        guard = SendGuard.load(
            cur,
            {
                "blocklist": [
                    self.relation_of("identifier_blocklist"),
                    "reference.identifier_blocklist",
                ],
                "email_events": [self.relation_of("stg_esp__events"), "staging.stg_esp__events"],
                "dim_customers": [self.relation_of("dim_customers")],
                "identity_map": [self.relation_of("identity_map")],
                "marketing_preferences": [self.relation_of("stg_shop__marketing_preferences")],
                "email_contacts": [self.relation_of("stg_esp__contacts")],
            },
        )
        kept = []
        for row in rows:
            reason = guard.reason(row)
            if reason is None:
                kept.append(row)
            else:
                plan.suppressed[reason] = plan.suppressed.get(reason, 0) + 1
        return kept

    # ------------------------------------------------------------------ running
    def run(self, sync: SyncConfig, dry_run: bool = False, force: bool = False) -> SyncResult:
        started = time.monotonic()
        started_at = dt.datetime.now(dt.UTC)
        result = SyncResult(sync.name)
        try:
            plan = self.plan(sync)
            result.planned_adds = len(plan.adds)
            result.planned_updates = len(plan.updates)
            result.planned_removes = len(plan.removes)
            result.suppressed = dict(plan.suppressed)
            if plan.suppressed:
                log.info("%s: not sent at send time: %s", sync.name, plan.suppressed)
            if (
                plan.removes
                and not force
                and plan.destination_rows
                and len(plan.removes) > sync.max_delete_share * plan.destination_rows
            ):
                raise SyncRefused(
                    f"mirror sync {sync.name} would remove {len(plan.removes):,} of "
                    f"{plan.destination_rows:,} rows (> {sync.max_delete_share:.0%}); refusing "
                    f"(check the audience, or run with --force)"
                )
            if not dry_run:
                self._execute(sync, plan, result)
            result.status = "dry_run" if dry_run else ("partial" if result.failed else "ok")
        except SyncRefused as exc:
            result.status, result.error = "refused", str(exc)
        except ConnectorError as exc:
            result.status, result.error = "error", str(exc)
        result.seconds = time.monotonic() - started
        if not dry_run:
            self._log(sync, result, started_at)
        return result

    def _execute(self, sync: SyncConfig, plan: Plan, result: SyncResult) -> None:
        client = HttpClient(
            max_retries=sync.max_retries,
            timeout=sync.timeout_seconds,
            rate_limit=sync.rate_limit_per_second,
            sleep=self.sleep,
        )
        connector = make_connector(sync.name, sync.connector, client)
        try:
            for batch in _chunks(plan.records, sync.batch_size):
                if sync.kind == "message":
                    self._mark_pending(sync, plan, batch, connector.channel)
                try:
                    outcomes = connector.send(batch)
                except ConnectorError as exc:
                    outcomes = [Outcome(r.key, False, str(exc)) for r in batch]
                if self.crash_after_send is not None:
                    self.crash_after_send(sync.name, batch)
                self._record(sync, plan, batch, outcomes, result)
        finally:
            result.retries += client.retries_done
            connector.close()

    def _mark_pending(self, sync: SyncConfig, plan: Plan, batch: list[Record], channel: str):
        rows = [
            (
                r.key,
                sync.audience_label,
                channel,
                str(plan.meta[r.key]["reason"]),
                int(plan.meta[r.key]["customer_id"]),
            )
            for r in batch
        ]
        with self.connect() as conn, conn.cursor() as cur:
            execute_values(
                cur,
                f"insert into {SCHEMA}.send_ledger (idempotency_key, audience, channel, reason, "
                f"customer_id, status, attempt_count) values %s "
                f"on conflict (idempotency_key) do update set "
                f"attempt_count = {SCHEMA}.send_ledger.attempt_count + 1, status = 'pending' "
                f"where {SCHEMA}.send_ledger.status not in ('sent', 'dead')",
                rows,
                template="(%s, %s, %s, %s, %s, 'pending', 1)",
            )

    def _record(
        self,
        sync: SyncConfig,
        plan: Plan,
        batch: list[Record],
        outcomes: list[Outcome],
        result: SyncResult,
    ) -> None:
        by_key = {o.key: o for o in outcomes}
        ok = [r for r in batch if by_key.get(r.key, Outcome(r.key, False, "no outcome")).ok]
        failed = [
            (r, by_key.get(r.key, Outcome(r.key, False, "no outcome")).error or "rejected")
            for r in batch
            if not by_key.get(r.key, Outcome(r.key, False)).ok
        ]
        with self.connect() as conn, conn.cursor() as cur:
            if sync.kind == "message":
                if ok:
                    cur.execute(
                        f"update {SCHEMA}.send_ledger set status = 'sent', sent_at = now(), "
                        f"last_error = null where idempotency_key = any(%s)",
                        ([r.key for r in ok],),
                    )
                for record, error in failed:
                    cur.execute(
                        f"update {SCHEMA}.send_ledger set last_error = %s, status = case when "
                        f"attempt_count >= %s then 'dead' else 'failed' end "
                        f"where idempotency_key = %s returning status",
                        (error[:1000], sync.max_attempts, record.key),
                    )
                    if (cur.fetchone() or ("",))[0] == "dead":
                        result.dead += 1
            else:
                upserts = [r for r in ok if r.op == "upsert"]
                if upserts:
                    execute_values(
                        cur,
                        f"insert into {SCHEMA}.sync_state (sync_name, record_key, row_hash, "
                        f"payload, synced_at) values %s on conflict (sync_name, record_key) do "
                        f"update set row_hash = excluded.row_hash, payload = excluded.payload, "
                        f"synced_at = excluded.synced_at",
                        [(sync.name, r.key, plan.hashes[r.key], Json(r.data)) for r in upserts],
                        template="(%s, %s, %s, %s, now())",
                    )
                removed = [r.key for r in ok if r.op == "delete"]
                if removed:
                    cur.execute(
                        f"delete from {SCHEMA}.sync_state where sync_name = %s "
                        f"and record_key = any(%s)",
                        (sync.name, removed),
                    )
            if ok:
                cur.execute(
                    f"update {SCHEMA}.dead_letters set resolved_at = now() where sync_name = %s "
                    f"and record_key = any(%s) and resolved_at is null",
                    (sync.name, [r.key for r in ok]),
                )
            for record, error in failed:
                cur.execute(
                    f"insert into {SCHEMA}.dead_letters (sync_name, record_key, payload, error) "
                    f"values (%s, %s, %s, %s) on conflict (sync_name, record_key) do update set "
                    f"error = excluded.error, payload = excluded.payload, last_failed_at = now(), "
                    f"attempt_count = {SCHEMA}.dead_letters.attempt_count + 1, resolved_at = null",
                    (sync.name, record.key, Json(record.data), error[:1000]),
                )
        result.sent += len(ok)
        result.failed += len(failed)
        result.errors.extend(f"{r.key}: {e}" for r, e in failed[:5])

    def _log(self, sync: SyncConfig, result: SyncResult, started_at: dt.datetime) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"insert into {SCHEMA}.sync_runs (run_id, sync_name, audience, connector, kind, "
                f"mode, is_dry_run, status, planned_adds, planned_updates, planned_removes, "
                f"sent_count, failed_count, dead_count, retry_count, error, started_at, "
                f"finished_at, duration_seconds) values (%s, %s, %s, %s, %s, %s, false, %s, %s, "
                f"%s, %s, %s, %s, %s, %s, %s, %s, now(), %s)",
                (
                    self.run_id,
                    sync.name,
                    sync.audience,
                    sync.connector.get("type"),
                    sync.kind,
                    sync.mode,
                    result.status,
                    result.planned_adds,
                    result.planned_updates,
                    result.planned_removes,
                    result.sent,
                    result.failed,
                    result.dead,
                    result.retries,
                    result.error or ("; ".join(result.errors)[:2000] or None),
                    started_at,
                    result.seconds,
                ),
            )
