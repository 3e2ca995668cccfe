{#- Connected components of the link graph: every record gets the smallest record_key of its
    component as cluster_key (macros/matching/connected_components.sql, run as pre-hook). -#}
{{ config(
    pre_hook="{{ connected_components(
        ref('int_identity_records_unioned'), 'record_key',
        ref('int_identity_links_unioned'), 'left_record_key', 'right_record_key'
    ) }}"
) }}

-- depends_on: {{ ref('int_identity_links_unioned') }}

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

labels as (

    select
        record_key,
        cluster_key
    from pg_temp.cluster_labels

),

clustered as (

    select
        records.record_key,
        labels.cluster_key,
        records.source_system,
        records.source_table,
        records.source_record_id,
        records.birth_date,
        records.record_updated_at,
        count(*) over (partition by labels.cluster_key) as cluster_record_count
    from records
    inner join labels on records.record_key = labels.record_key

)

select * from clustered
