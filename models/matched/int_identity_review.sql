{{ config(
    materialized='incremental_batch',
    replaces='stale_reviews',
    watermark='reviewed_at',
    unique_key='review_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

assessed as (

    select
        identifier_type,
        identifier_value,
        people_count,
        record_count,
        unusable_reason
    from {{ ref('int_identifiers_assessed') }}
    where
        not is_usable
        and not is_issued
    {% if is_incremental() -%}
        and assessed_at > {{ matching_watermark('reviewed_at') }}
    {%- endif %}

),

{% if is_incremental() %}

    -- every record of the clusters written since the last review, and of the clusters those
    -- records left (a cluster that lost records is reviewed again, whole)
    written_clusters as (

        {{ clusters_written_since('reviewed_at') }}

    ),

{% endif %}

clustered as (

    select
        cluster_key,
        birth_date
    from {{ ref('int_identity_records_clustered') }}
    {% if is_incremental() -%}
        where cluster_key in (select written_clusters.cluster_key from written_clusters)
    {%- endif %}

),

shared_identifiers as (

    select
        case
            when unusable_reason = 'held_by_namesakes' then 'identifier_held_by_namesakes'
            else 'shared_identifier'
        end as review_reason,
        identifier_type || '=' || identifier_value as review_subject,
        people_count as distinct_people,
        record_count,
        null as review_evidence
    from assessed

),

suspicious_clusters as (

    select
        case
            when count(*) > {{ var('max_records_per_customer') }}
                then 'cluster_too_large'
            else 'several_birth_dates'
        end as review_reason,
        'cluster=' || cluster_key as review_subject,
        count(distinct birth_date) as distinct_people,
        count(*) as record_count,
        null as review_evidence
    from clustered
    group by cluster_key
    having
        count(*) > {{ var('max_records_per_customer') }}
        or count(distinct birth_date) > 1

),

-- pairs whose match probability lies between var('match_review_probability') and
-- var('match_link_probability'): not linked, for a person to decide
probable_matches as (

    select
        'probable_match' as review_reason,
        'pair=' || left_record_key || '|' || right_record_key as review_subject,
        null::bigint as distinct_people,
        2::bigint as record_count,
        'match_weight=' || match_weight || ' ' || evidence as review_evidence
    from {{ ref('int_identity_links_fuzzy') }}
    where
        not is_link
    {% if is_incremental() -%}
        and computed_at > {{ matching_watermark('reviewed_at') }}
    {%- endif %}

),

unioned as (

    select * from shared_identifiers
    union all
    select * from suspicious_clusters
    union all
    select * from probable_matches

)

select
    *,
    md5(review_reason || review_subject) as review_id,
    current_timestamp as reviewed_at
from unioned
