{{ config(
    materialized='incremental_batch',
    stages=['touched_records', 'cluster_scope', 'cluster_labels'],
    watermark='clustered_at',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
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
        select
            record_key,
            previous_cluster_key,
            previous_birth_date,
            previous_record_updated_at
        from pg_temp.cluster_scope
    {% else %}
        select
            record_key,
            null::text as previous_cluster_key,
            null::date as previous_birth_date,
            null::timestamptz as previous_record_updated_at
        from records
    {% endif %}

),

labels as (

    select
        record_key,
        cluster_key
    from pg_temp.cluster_labels

),

clustered as (

    select
        records.record_key,
        coalesce(labels.cluster_key, records.record_key) as cluster_key,
        records.source_system,
        records.source_table,
        records.source_record_id,
        scope.previous_cluster_key,
        records.birth_date,
        scope.previous_birth_date,
        records.record_updated_at,
        scope.previous_record_updated_at
    from scope
    inner join records on scope.record_key = records.record_key
    left join labels on scope.record_key = labels.record_key

),

-- only new records and records whose cluster or attributes changed are written: a record that
-- stays in its cluster keeps its row and its clustered_at, so the models after this one look
-- at fewer records (a cluster's size is counted where it is needed, in int_identity_review)
changed as (

    select
        record_key,
        cluster_key,
        previous_cluster_key,
        source_system,
        source_table,
        source_record_id,
        birth_date,
        record_updated_at,
        current_timestamp as clustered_at
    from clustered
    where
        previous_cluster_key is null
        or cluster_key != previous_cluster_key
        or birth_date is distinct from previous_birth_date
        or record_updated_at is distinct from previous_record_updated_at

)

select * from changed
