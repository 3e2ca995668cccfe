{#- The erasure requests and the send ledger of the reverse-ETL syncs (reverse_etl/): one row per message intended for a
    customer, keyed by an idempotency key (audience, reason, customer), with its delivery
    status. Created empty by on-run-start so the marts that read it (welcome KPIs, cooldowns)
    build before the first sync. -#}
{% macro create_reverse_etl_tables() -%}
create schema if not exists reverse_etl;

create table if not exists reverse_etl.send_ledger (
    idempotency_key text primary key,
    audience text not null,
    channel text not null,
    reason text not null,
    customer_id bigint not null,
    status text not null,
    attempt_count integer not null default 0,
    last_error text,
    planned_at timestamptz not null default now(),
    sent_at timestamptz
);

-- people who asked to be forgotten (right to erasure): never contacted again; fed by the
-- privacy process (`ciw forget`) or your own tool
create table if not exists reverse_etl.erasure_requests (
    email text,
    phone text,
    customer_id bigint,
    requested_at timestamptz not null default now()
);

-- `ciw forget` (ciw/erasure.py, docs/erasure.md): SHA-256 of every identifier and record of
-- an erased person (never the values), applied by the loader to every later load and by the
-- audiences and the sync engine; and one audit row per request, without personal data
create table if not exists reverse_etl.erasure_tombstones (
    tombstone_sha256 text primary key,
    identifier_type text not null,
    erasure_id bigint not null,
    created_at timestamptz not null default now()
);

create table if not exists reverse_etl.erasures (
    erasure_id bigserial primary key,
    mode text not null,
    given_identifier_type text not null,
    customer_count integer not null,
    record_count integer not null,
    tombstone_count integer not null,
    rows_deleted integer not null default 0,
    files_changed integer not null default 0,
    requested_at timestamptz not null default now(),
    completed_at timestamptz
);
{%- endmacro %}
