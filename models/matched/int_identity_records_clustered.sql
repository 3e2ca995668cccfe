{#- Connected components of the link graph: every record gets the smallest record_key of its
    component as cluster_key (macros/matching/connected_components.sql, run as pre-hook).
    Incremental: only the clusters that records touched since this model last wrote belonged
    to, or now link into, are computed again, whole (a removed link can split one), and
    written with their new keys and sizes; every other cluster keeps its rows. -#}
{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook=[
        "{{ stage_touched_records('clustered_at') }}",
        "{{ cluster_scope() }}",
        "{{ connected_components(cluster_scope_edges()) }}",
    ],
    indexes=[
        {'columns': ['record_key'], 'unique': True},
        {'columns': ['cluster_key']},
        {'columns': ['clustered_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_links_unioned') }}
-- depends_on: {{ ref('int_identity_records_touched') }}

with

records as (

    select
        record_key,
        source_system,
        source_table,
        source_record_id,
        birth_date,
        record_updated_at
    from {{ ref('int_identity_records_unioned') }}

),

scope as (

    {% if is_incremental() %}
        select record_key from pg_temp.cluster_scope
    {% else %}
        select record_key from records
    {% endif %}

),

labels as (

    select
        record_key,
        cluster_key
    from pg_temp.cluster_labels

),

clustered as materialized (

    select
        records.record_key,
        coalesce(labels.cluster_key, records.record_key) as cluster_key,
        records.source_system,
        records.source_table,
        records.source_record_id,
        records.birth_date,
        records.record_updated_at,
        current_timestamp as clustered_at
    from scope
    inner join records on scope.record_key = records.record_key
    left join labels on scope.record_key = labels.record_key

),

-- sizes by a hash aggregate (a window over millions of text keys would sort them)
cluster_sizes as (

    select
        cluster_key,
        count(*) as cluster_record_count
    from clustered
    group by cluster_key

),

sized as (

    select
        clustered.*,
        cluster_sizes.cluster_record_count
    from clustered
    inner join cluster_sizes on clustered.cluster_key = cluster_sizes.cluster_key

)

select * from sized
