{{ config(
    materialized='incremental_batch',
    stages=['records_to_map'],
    unique_key=['source_system', 'source_table', 'source_record_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['source_system', 'source_table', 'source_record_id'], 'unique': True},
        {'columns': ['customer_id']},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_touched') }}
-- depends_on: {{ ref('int_identity_records_clustered') }}

with

records as (

    select
        record_key,
        source_system,
        source_table,
        source_record_id
    {% if is_incremental() -%}
        -- staged by the materialisation (incremental_batch stage records_to_map)
        from pg_temp.records_to_map
    {%- else -%}
        from {{ ref('int_identity_records_clustered') }}
    {%- endif %}

),

assignments as (

    select
        assignments.record_key,
        assignments.customer_id
    from {{ ref('int_customer_ids_assigned') }} as assignments
    {% if is_incremental() -%}
        -- = any(array): one index scan for the staged records (joined to them, the planner
        -- hashes all four million assignments for a hundred thousand)
        where
            assignments.record_key
            = any(array(select records_to_map.record_key from pg_temp.records_to_map))
    {%- endif %}

),

links as (

    {% if is_incremental() %}
        -- one index scan per end (= any(array), as for the assignments); a link with both
        -- ends re-mapped comes twice, which the strongest-link pick below does not mind
        select
            links.left_record_key,
            links.right_record_key,
            links.match_rule,
            links.match_score,
            links.evidence
        from {{ ref('int_identity_links_unioned') }} as links
        where
            links.left_record_key
            = any(array(select records_to_map.record_key from pg_temp.records_to_map))
        union all
        select
            links.left_record_key,
            links.right_record_key,
            links.match_rule,
            links.match_score,
            links.evidence
        from {{ ref('int_identity_links_unioned') }} as links
        where
            links.right_record_key
            = any(array(select records_to_map.record_key from pg_temp.records_to_map))
    {% else %}
        select
            left_record_key,
            right_record_key,
            match_rule,
            match_score,
            evidence
        from {{ ref('int_identity_links_unioned') }}
    {% endif %}

),

link_ends as (

    select
        left_record_key as record_key,
        match_rule,
        match_score,
        evidence
    from links
    union all
    select
        right_record_key as record_key,
        match_rule,
        match_score,
        evidence
    from links

),

-- the strongest link per record: deterministic before probabilistic, then the highest score,
-- then the rule's name and its evidence; one hash aggregate over a sortable key (a sort of
-- every link end costs more); the evidence follows a unit separator
ranked_ends as (

    select
        record_key,
        case when match_rule = 'probabilistic' then '1' else '0' end
        || lpad((10000 - round(match_score * 10000))::text, 5, '0')
        || match_rule || chr(31) || coalesce(evidence, '') as rank_key
    from link_ends

),

strongest_ends as (

    select
        record_key,
        min(rank_key collate "C") as rank_key
    from ranked_ends
    group by record_key

),

strongest_link as (

    select
        record_key,
        split_part(substr(rank_key, 7), chr(31), 1) as match_rule,
        (1 - substr(rank_key, 2, 5)::numeric / 10000)::numeric(6, 4) as match_score,
        nullif(split_part(substr(rank_key, 7), chr(31), 2), '') as match_evidence
    from strongest_ends

),

mapped as (

    select
        records.source_system,
        records.source_table,
        records.source_record_id,
        assignments.customer_id,
        coalesce(strongest_link.match_rule, 'singleton') as matched_by_rule,
        coalesce(strongest_link.match_score, 1.0)::numeric(6, 4) as match_score,
        strongest_link.match_evidence,
        current_timestamp as computed_at
    from records
    inner join assignments on records.record_key = assignments.record_key
    left join strongest_link on records.record_key = strongest_link.record_key

),

-- only new and changed rows are written: an unchanged row keeps its computed_at
changed as (

    select mapped.*
    from mapped
    {% if is_incremental() -%}
        left join {{ this }} as previous
            on
                mapped.source_system = previous.source_system
                and mapped.source_table = previous.source_table
                and mapped.source_record_id = previous.source_record_id
        where
            previous.source_record_id is null
            or mapped.customer_id != previous.customer_id
            or mapped.matched_by_rule != previous.matched_by_rule
            or mapped.match_score != previous.match_score
            or mapped.match_evidence is distinct from previous.match_evidence
    {%- endif %}

)

select * from changed
