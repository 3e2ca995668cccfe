{#- The first-purchase event log exists before its first build (empty, with its contract's
    columns), so the model always runs incrementally against a log (a history that
    --full-refresh must not wipe) and its unit tests, which read `this`, can run on a fresh
    warehouse. -#}
{% macro create_event_log_tables() -%}
{%- set relation = api.Relation.create(
    database=target.database,
    schema=generate_schema_name('marts', none),
    identifier='first_purchase_events',
    type='table',
) -%}
{#- dbt listed the warehouse's relations before this hook: tell its cache about the table -#}
{%- if execute -%}{%- do adapter.cache_added(relation) -%}{%- endif -%}
create schema if not exists {{ generate_schema_name('marts', none) }};

create table if not exists {{ generate_schema_name('marts', none) }}.first_purchase_events (
    event_id text,
    customer_id bigint,
    event_type text,
    sales_channel text,
    order_key text,
    retraction_reason text,
    revenue_amount numeric(18, 2),
    is_retracted boolean,
    purchased_at timestamp with time zone,
    order_loaded_at timestamp with time zone,
    recorded_at timestamp with time zone,
    retracted_at timestamp with time zone
);

-- each run replaces events by id and reads the events of the customers whose orders changed
create index if not exists first_purchase_events_event_id_idx
on {{ generate_schema_name('marts', none) }}.first_purchase_events (event_id);
create index if not exists first_purchase_events_customer_id_idx
on {{ generate_schema_name('marts', none) }}.first_purchase_events (customer_id);
{%- endmacro %}
