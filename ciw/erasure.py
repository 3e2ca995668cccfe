"""Right to erasure: find a person by any identifier of any of their records, suppress them
everywhere, and (erase mode) delete their personal data from every layer and file.

Kept about the person afterwards: an audit row without personal data (reverse_etl.erasures)
and hashed tombstones (reverse_etl.erasure_tombstones: SHA-256 of the identifiers, never the
values) that the loader applies to every later load (``apply_tombstones``), so the same rows
sent again by a source are deleted on arrival, and that the sync engine checks at send time.
docs/erasure.md describes the whole flow.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import re
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ciw.config import project_vars
from ciw.warehouse import relation_exists

log = logging.getLogger(__name__)

SCHEMA = "reverse_etl"
TOMBSTONES = f"{SCHEMA}.erasure_tombstones"
AUDIT = f"{SCHEMA}.erasures"

# the raw tables whose rows are identity records (identity_map's source_system/source_table):
# record key <source>:<table>:<value of this column>
RECORD_COLUMNS = {
    ("shop", "accounts"): "account_id",
    ("shop", "guest_checkouts"): "guest_checkout_id",
    ("pos", "loyalty_signups"): "loyalty_card_id",
    ("helpdesk", "tickets"): "ticket_id",
    ("esp", "contacts"): "contact_id",
}
# raw columns that point at another table's record (an ESP event names its contact)
RECORD_REFERENCES = {("esp", "events"): ("contact_id", "esp", "contacts")}
# the personal data of a record table: set to null for an erased person, the row itself stays
# (orders, consents and events point at it; without these columns it leads to nobody)
PERSONAL_COLUMNS = {
    ("shop", "accounts"): (
        "email",
        "first_name",
        "last_name",
        "phone",
        "date_of_birth",
        "address_line1",
        "city",
        "postcode",
    ),
    ("shop", "guest_checkouts"): (
        "email",
        "first_name",
        "last_name",
        "phone",
        "address_line1",
        "city",
        "postcode",
    ),
    ("pos", "loyalty_signups"): (
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "postcode",
    ),
    ("helpdesk", "tickets"): ("requester_name", "requester_email", "requester_phone"),
    ("esp", "contacts"): ("email", "first_name", "last_name"),
}
RAW_SCHEMAS = ("shop", "pos", "web", "helpdesk", "esp")
# the dbt layers' schemas are found by their columns; these hold no person's data
SKIPPED_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", SCHEMA)
IDENTIFIER_TYPES = ("email", "phone", "account", "loyalty_card", "card_token")
EMAIL_TOKEN = r"[^\s\",:;<>()\[\]{}]+@[^\s\",:;<>()\[\]{}]+"
PHONE_MIN_DIGITS = 7


class ErasureError(RuntimeError):
    """The request cannot be carried out (nothing matched, several people matched, ...)."""


def sha256(kind: str, value: str) -> str:
    """The tombstone of one identifier: SHA-256 of ``<kind>:<value>`` (the same in SQL:
    ``tombstone_sql``)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def tombstone_sql(kind: str, expression: str) -> str:
    return f"encode(sha256(convert_to('{kind}:' || ({expression}), 'UTF8')), 'hex')"


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def phone_pattern(national_digits: str) -> str:
    """A regular expression for a phone number however it is written ("07700 900 123",
    "+44 7700-900123"): its national digits with up to two separators between them."""
    return r"[^0-9]{0,2}".join(national_digits)


def normalize_email(value: str, project: Path | None = None) -> str:
    """The staging models' normalisation (macro normalize_email), for a value given by hand."""
    email = value.strip().lower()
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    dots, tags = ["gmail.com", "googlemail.com"], []
    if project is not None and (project / "dbt_project.yml").exists():
        found = project_vars(project)
        dots = found.get("email_dot_insensitive_domains", dots)
        tags = found.get("email_plus_tag_domains", tags)
    if domain in dots:
        local = local.split("+", 1)[0].replace(".", "")
    elif domain in tags:
        local = local.split("+", 1)[0]
    return f"{local}@{'gmail.com' if domain == 'googlemail.com' else domain}"


@dataclass
class Person:
    """Whom a request matched: the customers, all their records and identifiers."""

    given_type: str
    customer_ids: list[int] = field(default_factory=list)
    record_keys: list[str] = field(default_factory=list)
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    @property
    def emails(self) -> list[str]:
        return sorted(v for t, v in self.identifiers if t == "email")

    @property
    def phones(self) -> list[str]:
        return sorted(v for t, v in self.identifiers if t == "phone")


@dataclass
class ErasureResult:
    erasure_id: int
    person: Person
    mode: str
    tombstones: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files_changed: list[str] = field(default_factory=list)


# the tables are those dbt's on-run-start creates: one definition, the macro's
TABLES_MACRO = Path("macros/intelligence/create_reverse_etl_tables.sql")


def tables_ddl(project: Path) -> str:
    """The body of macro create_reverse_etl_tables (plain SQL between its Jinja tags)."""
    text = (project / TABLES_MACRO).read_text()
    body = re.search(r"{%-? macro create_reverse_etl_tables\(\) -?%}(.*?){%-? endmacro", text, re.S)
    if body is None or "{{" in body.group(1) or "{%" in body.group(1):
        raise ErasureError(f"{TABLES_MACRO}: no plain-SQL macro create_reverse_etl_tables")
    return body.group(1)


def ensure_tables(warehouse: Any, project: Path) -> None:
    warehouse.query(tables_ddl(project))


def _relation(project: Path, name: str, schema: str) -> str:
    from ciw.dbt import model_relation

    return model_relation(project, name, schema)


def find_person(
    warehouse: Any,
    project: Path,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: int | None = None,
    identifiers: dict[str, str] | None = None,
) -> Person:
    """Every customer holding the given identifier on any of their records (identity_map and
    the matched identifiers), with all their records and identifiers."""
    unpivoted = _relation(project, "int_identifiers_unpivoted", "matched")
    records = _relation(project, "int_identity_records_unioned", "matched")
    identity_map = _relation(project, "identity_map", "marts")
    for relation in (unpivoted, records, identity_map):
        if not warehouse.exists(relation):
            raise ErasureError(f"{relation} does not exist: build the models first")
    given = dict(identifiers or {})
    if email:
        given["email"] = email
    if phone:
        given["phone"] = phone
    kinds = sorted(given) + (["customer_id"] if customer_id is not None else [])
    person = Person(given_type="+".join(kinds) or "none")
    customer_ids: set[int] = set()
    if customer_id is not None:
        customer_ids |= {
            row[0]
            for row in warehouse.query(
                f"select distinct customer_id from {identity_map} where customer_id = %s",
                (customer_id,),
            )
        }
    for kind, value in given.items():
        if kind == "email":
            condition, params = "identifier_value = %s", (normalize_email(value, project),)
        elif kind == "phone":
            national = digits(value).lstrip("0")
            if len(national) < PHONE_MIN_DIGITS:
                raise ErasureError(f"phone {value!r} has too few digits to identify anybody")
            condition = "regexp_replace(identifier_value, '[^0-9]', '', 'g') like %s"
            params = (f"%{national}",)
        else:
            condition, params = "identifier_value = %s", (value.strip(),)
        rows = warehouse.query(
            f"select distinct identity_map.customer_id from {unpivoted} as identifiers "
            f"inner join {identity_map} as identity_map on identifiers.record_key = "
            f"identity_map.source_system || ':' || identity_map.source_table || ':' || "
            f"identity_map.source_record_id "
            f"where identifiers.identifier_type = %s and {condition}",
            (kind, *params),
        )
        customer_ids |= {row[0] for row in rows}
    person.customer_ids = sorted(customer_ids)
    if not customer_ids:
        return person
    person.record_keys = [
        row[0]
        for row in warehouse.query(
            f"select source_system || ':' || source_table || ':' || source_record_id "
            f"from {identity_map} where customer_id = any(%s) order by 1",
            (person.customer_ids,),
        )
    ]
    person.identifiers = {
        (kind, value)
        for kind, value in warehouse.query(
            f"select identifier_type, identifier_value from {unpivoted} where record_key = any(%s)",
            (person.record_keys,),
        )
    }
    for row in warehouse.query(
        f"select email_normalized, phone_e164, first_name_normalized, last_name_normalized "
        f"from {records} where record_key = any(%s)",
        (person.record_keys,),
    ):
        email_value, phone_value, *names = row
        if email_value:
            person.identifiers.add(("email", email_value))
        if phone_value:
            person.identifiers.add(("phone", phone_value))
        person.names |= {n for n in names if n}
    for kind, value in given.items():  # the value as given, too (another spelling of it)
        if kind == "email":
            person.identifiers.add(("email", value.strip().lower()))
    return person


def _raw_values(warehouse: Any, person: Person) -> set[tuple[str, str]]:
    """The person's emails and phones as their raw rows spell them (lower-cased; phones as
    digits), so that the same rows sent again match the tombstones before any staging."""
    values: set[tuple[str, str]] = set()
    for (schema, table), key in RECORD_COLUMNS.items():
        ids = [k.split(":", 2)[2] for k in person.record_keys if k.startswith(f"{schema}:{table}:")]
        columns = _existing_columns(warehouse, schema, table)
        if not ids or not columns:
            continue
        for column in columns:
            kind = _contact_kind(column)
            if kind is None:
                continue
            for (value,) in warehouse.query(
                f'select distinct "{column}"::text from "{schema}"."{table}" '
                f'where "{key}"::text = any(%s) and "{column}" is not null',
                (ids,),
            ):
                if kind == "email":
                    values.add(("email", value.strip().lower()))
                elif len(digits(value)) >= PHONE_MIN_DIGITS:
                    values.add(("phone_digits", digits(value)))
    return values


def _contact_kind(column: str) -> str | None:
    if "email" in column:
        return "email"
    if "phone" in column:
        return "phone"
    return None


def _existing_columns(warehouse: Any, schema: str, table: str) -> list[str]:
    return [
        row[0]
        for row in warehouse.query(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


def tombstones_of(person: Person, raw_values: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """sha256 -> identifier type, for every identifier and record of the person."""
    stones: dict[str, str] = {}
    for kind, value in person.identifiers:
        stones[sha256(kind, value)] = kind
        if kind == "phone":
            stones[sha256("phone_digits", digits(value))] = "phone_digits"
    for kind, value in raw_values:
        stones[sha256(kind, value)] = kind
    for key in person.record_keys:
        stones[sha256("record", key)] = "record"
    return stones


def record_request(
    warehouse: Any,
    project: Path,
    person: Person,
    mode: str,
    raw_values: Iterable[tuple[str, str]] = (),
) -> tuple[int, int]:
    """The audit row (no personal data) and the tombstones; the customers are suppressed from
    the next build on (erasure_requests by customer id) and by the sync engine at once."""
    ensure_tables(warehouse, project)
    stones = tombstones_of(person, raw_values)
    with warehouse.cursor() as cur:
        cur.execute(
            f"insert into {AUDIT} (mode, given_identifier_type, customer_count, record_count, "
            f"tombstone_count) values (%s, %s, %s, %s, %s) returning erasure_id",
            (mode, person.given_type, len(person.customer_ids), len(person.record_keys), 0),
        )
        erasure_id = cur.fetchone()[0]
        for digest, kind in stones.items():
            cur.execute(
                f"insert into {TOMBSTONES} (tombstone_sha256, identifier_type, erasure_id) "
                f"values (%s, %s, %s) on conflict do nothing",
                (digest, kind, erasure_id),
            )
        cur.execute(
            f"update {AUDIT} set tombstone_count = %s where erasure_id = %s",
            (len(stones), erasure_id),
        )
        for customer_id in person.customer_ids:
            cur.execute(
                f"insert into {SCHEMA}.erasure_requests (customer_id) values (%s)",
                (customer_id,),
            )
    return erasure_id, len(stones)


class _Transaction:
    """The warehouse's query() and cursor() on one connection and one transaction: an erase is
    recorded and carried out in the tables all at once, or not at all (then run it again)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        with self.connection.cursor() as cur:
            yield cur

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        with self.connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def exists(self, relation: str) -> bool:
        with self.connection.cursor() as cur:
            return relation_exists(cur, relation)


def forget(
    warehouse: Any,
    project: Path,
    home: Path,
    person: Person,
    erase: bool = False,
    outbox: Path | None = None,
) -> ErasureResult:
    """Record the request (suppression) and, with ``erase``, delete the person's data from the
    raw, staging (dlt's), dbt and sync-state tables (one transaction), then from the files
    under the warehouse home; the audit row is completed last."""
    mode = "erase" if erase else "suppress"
    connection = warehouse.connect()
    try:
        with connection:
            tx = _Transaction(connection)
            raw_values = _raw_values(tx, person) if erase else set()
            erasure_id, stones = record_request(tx, project, person, mode, raw_values)
            result = ErasureResult(erasure_id, person, mode, stones)
            if erase:
                needles = _needles(person, raw_values)
                ledger_keys = _ledger_keys(tx, person)
                for schema in (*RAW_SCHEMAS, *(f"{s}_staging" for s in RAW_SCHEMAS)):
                    result.rows_deleted.update(apply_tombstones(tx, schema, load_ids=None))
                result.rows_deleted.update(_delete_derived(tx, person, needles))
                result.rows_deleted.update(_delete_sync_state(tx, person, needles))
            else:
                tx.query(
                    f"update {AUDIT} set completed_at = now() where erasure_id = %s", (erasure_id,)
                )
    finally:
        connection.close()
    if not erase:
        return result
    result.files_changed = scrub_files(home, person, needles, ledger_keys, outbox)
    with warehouse.cursor() as cur:
        cur.execute(
            f"update {AUDIT} set rows_deleted = %s, files_changed = %s, completed_at = now() "
            f"where erasure_id = %s",
            (sum(result.rows_deleted.values()), len(result.files_changed), erasure_id),
        )
    return result


@dataclass
class Needles:
    """What the person's data looks like in any text: emails (lower case) and a pattern per
    phone (its national digits, however written)."""

    emails: list[str]
    phone_patterns: list[str]

    def sql(self, expression: str) -> tuple[str, list]:
        clauses, params = [], []
        if self.emails:
            clauses.append(f"lower({expression}) like any(%s)")
            params.append([f"%{e}%" for e in self.emails])
        for pattern in self.phone_patterns:
            clauses.append(f"{expression} ~ %s")
            params.append(pattern)
        return " or ".join(clauses) or "false", params

    def found_in(self, text: str) -> bool:
        lowered = text.lower()
        return any(e in lowered for e in self.emails) or any(
            re.search(p, text) for p in self.phone_patterns
        )


def _needles(person: Person, raw_values: Iterable[tuple[str, str]]) -> Needles:
    emails = {e for e in person.emails if "@" in e}
    emails |= {v for k, v in raw_values if k == "email" and "@" in v}
    nationals = set()
    for value in [*person.phones, *(v for k, v in raw_values if k == "phone_digits")]:
        number = digits(value)
        # the national significant number: without the calling code or trunk prefix
        nationals.add(number[-10:] if len(number) > 10 else number.lstrip("0"))
    return Needles(sorted(emails), sorted(phone_pattern(n) for n in nationals if n))


def apply_tombstones(
    warehouse: Any, schema: str, load_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Pseudonymise or delete, in the raw tables of ``schema``, every row of an erased person:
    a record whose key, or a row whose email or phone column hashes to a tombstone, loses its
    personal columns (PERSONAL_COLUMNS; elsewhere the email and phone columns); a quarantined
    row holding one of the emails is deleted. ``load_ids`` limits it to the rows of those
    loads (what the loader calls after each load); None: every row. Without tombstones nothing
    is read."""
    if (
        not warehouse.exists(TOMBSTONES)
        or not warehouse.query(f"select exists (select 1 from {TOMBSTONES})")[0][0]
    ):
        return {}
    source = schema.removesuffix("_staging")
    tables: dict[str, list[str]] = {}
    for table, column in warehouse.query(
        "select columns.table_name, columns.column_name from information_schema.columns "
        "inner join information_schema.tables on columns.table_schema = tables.table_schema "
        "and columns.table_name = tables.table_name where columns.table_schema = %s "
        "and tables.table_type = 'BASE TABLE' and columns.table_name not like '\\_dlt%%' "
        "order by columns.ordinal_position",
        (schema,),
    ):
        tables.setdefault(table, []).append(column)
    changed: dict[str, int] = {}
    stones = f"(select tombstone_sha256 from {TOMBSTONES})"
    for table, columns in tables.items():
        checks = []
        key = RECORD_COLUMNS.get((source, table))
        if key in columns:
            checks.append(tombstone_sql("record", f"'{source}:{table}:' || \"{key}\"::text"))
        reference = RECORD_REFERENCES.get((source, table))
        if reference and reference[0] in columns:
            column, ref_source, ref_table = reference
            checks.append(
                tombstone_sql("record", f"'{ref_source}:{ref_table}:' || \"{column}\"::text")
            )
        contact_columns = []
        for column in columns:
            kind = _contact_kind(column)
            if kind == "email":
                checks.append(tombstone_sql("email", f'lower(btrim("{column}"::text))'))
            elif kind == "phone":
                checks.append(
                    tombstone_sql(
                        "phone_digits", f"regexp_replace(\"{column}\"::text, '[^0-9]', '', 'g')"
                    )
                )
            if kind is not None:
                contact_columns.append(column)
        conditions = [f"{check} in {stones}" for check in checks]
        if "raw_payload" in columns:
            conditions.append(
                f"exists (select 1 from regexp_matches(lower(raw_payload::text), "
                f"'{EMAIL_TOKEN}', 'g') as token where "
                f"{tombstone_sql('email', 'token[1]')} in {stones})"
            )
        personal = [
            c for c in PERSONAL_COLUMNS.get((source, table), contact_columns) if c in columns
        ]
        if not conditions or not (personal or "raw_payload" in columns):
            continue
        # rows whose personal columns are all null already are done
        where = f"({' or '.join(conditions)})"
        if personal and "raw_payload" not in columns:
            where += " and not (" + " and ".join(f'"{c}" is null' for c in personal) + ")"
        params: tuple = ()
        if load_ids is not None:
            if "_dlt_load_id" not in columns:
                continue
            where = f"_dlt_load_id = any(%s) and {where}"
            params = (list(load_ids),)
        if "raw_payload" in columns:
            statement = f'delete from "{schema}"."{table}" where {where}'
        else:
            nulls = ", ".join(f'"{c}" = null' for c in personal)
            statement = f'update "{schema}"."{table}" set {nulls} where {where}'
        with warehouse.cursor() as cur:
            cur.execute(statement, params)
            if cur.rowcount:
                changed[f"{schema}.{table}"] = cur.rowcount
    if changed:
        log.info("erased rows on arrival in %s: %s", schema, changed)
    return changed


def _delete_derived(warehouse: Any, person: Person, needles: Needles) -> dict[str, int]:
    """The dbt layers (staging views follow the raw tables): every table row keyed by one of
    the person's customers or records, or holding one of their emails or phones."""
    raw = set(RAW_SCHEMAS) | {f"{s}_staging" for s in RAW_SCHEMAS}
    columns_by_table: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in warehouse.query(
        "select columns.table_schema, columns.table_name, columns.column_name, "
        "columns.data_type from information_schema.columns inner join "
        "information_schema.tables on columns.table_schema = tables.table_schema and "
        "columns.table_name = tables.table_name where tables.table_type = 'BASE TABLE' "
        "order by columns.ordinal_position"
    ):
        if schema in SKIPPED_SCHEMAS or schema in raw or schema.startswith("pg_"):
            continue
        columns_by_table.setdefault((schema, table), {})[column] = data_type
    deleted: dict[str, int] = {}
    customers = person.customer_ids
    records = person.record_keys
    for (schema, table), columns in sorted(columns_by_table.items()):
        conditions, params = [], []
        if "customer_id" in columns and columns["customer_id"] in ("bigint", "integer"):
            conditions.append("customer_id = any(%s)")
            params.append(customers)
        for column in ("record_key", "left_record_key", "right_record_key"):
            if column in columns:
                conditions.append(f'"{column}" = any(%s)')
                params.append(records)
        if {"source_system", "source_table", "source_record_id"} <= set(columns):
            conditions.append(
                "source_system || ':' || source_table || ':' || source_record_id = any(%s)"
            )
            params.append(records)
        for column, data_type in columns.items():
            if data_type in ("text", "character varying", "jsonb", "json", "ARRAY"):
                clause, clause_params = needles.sql(f'"{column}"::text')
                if clause != "false":
                    conditions.append(f"({clause})")
                    params.extend(clause_params)
        if not conditions:
            continue
        with warehouse.cursor() as cur:
            cur.execute(f'delete from "{schema}"."{table}" where {" or ".join(conditions)}', params)
            if cur.rowcount:
                deleted[f"{schema}.{table}"] = cur.rowcount
    return deleted


def _ledger_keys(warehouse: Any, person: Person) -> set[str]:
    if not warehouse.exists(f"{SCHEMA}.send_ledger"):
        return set()
    return {
        row[0]
        for row in warehouse.query(
            f"select idempotency_key from {SCHEMA}.send_ledger where customer_id = any(%s)",
            (person.customer_ids,),
        )
    }


def _delete_sync_state(warehouse: Any, person: Person, needles: Needles) -> dict[str, int]:
    """What the syncs remember: the ledger's, the list syncs' state and the dead letters'
    rows of the person (by customer, key or a contact point in the payload), the legacy
    plain-text erasure requests that named them."""
    ids = [str(c) for c in person.customer_ids]
    statements = {
        "send_ledger": ("customer_id = any(%s)", [person.customer_ids]),
        "sync_state": ("record_key = any(%s) or ({})", [ids], "payload::text"),
        "dead_letters": ("record_key = any(%s) or ({})", [ids], "payload::text"),
        "sync_runs": ("{}", [], "coalesce(error, '')"),
        "erasure_requests": (
            "{}",
            [],
            "coalesce(email, '') || ' ' || coalesce(phone, '')",
        ),
    }
    deleted: dict[str, int] = {}
    with warehouse.cursor() as cur:
        for table, spec in statements.items():
            if not relation_exists(cur, f"{SCHEMA}.{table}"):
                continue
            where, params = spec[0], list(spec[1])
            if len(spec) == 3:
                clause, clause_params = needles.sql(spec[2])
                where = where.format(clause)
                params.extend(clause_params)
            if table == "sync_runs":
                cur.execute(f"update {SCHEMA}.sync_runs set error = null where {where}", params)
            else:
                cur.execute(f"delete from {SCHEMA}.{table} where {where}", params)
            if cur.rowcount:
                deleted[f"{SCHEMA}.{table}"] = cur.rowcount
    return deleted


def scrub_files(
    home: Path,
    person: Person,
    needles: Needles,
    ledger_keys: set[str],
    outbox: Path | None = None,
) -> list[str]:
    """The files under the warehouse home (and the outbox): dlt's loaded packages are deleted
    (history only: dlt never reads them again); pending packages, outbox CSV files and SQLite
    files lose the person's rows. The demo's source systems (home/demo) are the sources' data,
    not the warehouse's, and are left alone."""
    changed: list[str] = []
    pipelines = home / "dlt_pipelines"
    for loaded in sorted(pipelines.glob("*/load/loaded/*")):
        if loaded.is_dir():
            shutil.rmtree(loaded)
            changed.append(str(loaded))
    customer_keys = {str(c) for c in person.customer_ids}
    roots = [pipelines, home / "outbox"] + ([outbox] if outbox else [])
    seen: set[Path] = set()
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path in seen or path.is_relative_to(home / "demo"):
                continue
            seen.add(path)
            if path.suffix in (".sqlite", ".db"):
                scrubbed = _scrub_sqlite(path, needles, customer_keys)
            elif path.suffix in (".csv", ".jsonl", ".json", ".insert_values", ".txt"):
                scrubbed = _scrub_text(path, needles, ledger_keys)
            else:
                scrubbed = False
            if scrubbed:
                changed.append(str(path))
    return changed


def _scrub_text(path: Path, needles: Needles, keys: set[str]) -> bool:
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        return False
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        kept = [
            row
            for index, row in enumerate(rows)
            if index == 0 or not (needles.found_in(",".join(row)) or set(row) & keys)
        ]
        if len(kept) == len(rows):
            return False
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        path.write_text(buffer.getvalue())
        return True
    lines = text.splitlines(keepends=True)
    kept_lines = [line for line in lines if not needles.found_in(line)]
    if len(kept_lines) == len(lines):
        return False
    path.write_text("".join(kept_lines))
    return True


def _scrub_sqlite(path: Path, needles: Needles, customer_keys: set[str]) -> bool:
    changed = 0
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute("select name from sqlite_master where type = 'table'")
        ]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'pragma table_info("{table}")')]
            doomed = []
            for row in connection.execute(f'select rowid, * from "{table}"'):
                values = dict(zip(columns, row[1:], strict=True))
                text = " ".join(str(v) for v in values.values() if v is not None)
                key = str(values.get("record_key", values.get("customer_id", "")))
                if needles.found_in(text) or key in customer_keys:
                    doomed.append((row[0],))
            if doomed:
                connection.executemany(f'delete from "{table}" where rowid = ?', doomed)
                changed += len(doomed)
        connection.commit()
        if changed:
            connection.execute("vacuum")
    finally:
        connection.close()
    return changed > 0
