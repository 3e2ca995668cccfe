{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['record_key'], 'unique': True},
        {'columns': ['customer_id']},
        {'columns': ['assigned_at']},
    ],
) }}

with

{% if is_incremental() %}

    -- the clusters whose members changed since this model last changed an id, and those their
    -- records came from: every part of a split customer is looked at, also a part whose
    -- records int_identity_records_clustered did not write again
    written_clusters as (

        {{ clusters_written_since('assigned_at') }}

    ),

{% endif %}

clusters as (

    select
        record_key,
        cluster_key
    from {{ ref('int_identity_records_clustered') }}
    {% if is_incremental() -%}
        where cluster_key in (select written_clusters.cluster_key from written_clusters)
    {%- endif %}

),

previous as (

    {% if is_incremental() %}
        select
            record_key,
            customer_id,
            assigned_at
        from {{ this }}
        where record_key in (select clusters.record_key from clusters)
    {% else %}
        select
            null::text as record_key,
            null::bigint as customer_id,
            null::timestamptz as assigned_at
        where false
    {% endif %}

),

joined as (

    select
        clusters.record_key,
        clusters.cluster_key,
        previous.customer_id as previous_customer_id,
        previous.assigned_at as previous_assigned_at
    from clusters
    left join previous on clusters.record_key = previous.record_key

),

claims as (

    select
        cluster_key,
        min(previous_customer_id) as claimed_customer_id
    from joined
    group by cluster_key

),

claim_strength as (

    select
        cluster_key,
        previous_customer_id,
        count(*) as record_count
    from joined
    where previous_customer_id is not null
    group by cluster_key, previous_customer_id

),

ranked_claims as (

    select
        claims.cluster_key,
        claims.claimed_customer_id,
        row_number() over (
            partition by claims.claimed_customer_id
            order by claim_strength.record_count desc nulls last, claims.cluster_key asc
        ) as claim_rank
    from claims
    left join claim_strength
        on
            claims.cluster_key = claim_strength.cluster_key
            and claims.claimed_customer_id = claim_strength.previous_customer_id

),

highest_previous_id as (

    {% if is_incremental() %}
        select coalesce(max(customer_id), 0) as customer_id
        from {{ this }}
    {% else %}
        select 0::bigint as customer_id
    {% endif %}

),

kept_ids as (

    select
        cluster_key,
        claimed_customer_id as customer_id
    from ranked_claims
    where claimed_customer_id is not null and claim_rank = 1

),

new_ids as (

    select
        ranked_claims.cluster_key,
        highest_previous_id.customer_id
        + row_number() over (order by ranked_claims.cluster_key) as customer_id
    from ranked_claims
    cross join highest_previous_id
    where ranked_claims.claimed_customer_id is null or ranked_claims.claim_rank > 1

),

cluster_ids as (

    select * from kept_ids
    union all
    select * from new_ids

),

assigned as (

    select
        joined.record_key,
        cluster_ids.customer_id,
        joined.previous_customer_id,
        joined.cluster_key,
        '{{ invocation_id }}' as changed_in_invocation_id,
        case
            when joined.previous_customer_id = cluster_ids.customer_id
                then joined.previous_assigned_at
            else now()
        end as assigned_at
    from joined
    inner join cluster_ids on joined.cluster_key = cluster_ids.cluster_key

),

changed as (

    select *
    from assigned
    where previous_customer_id is distinct from customer_id

)

select * from changed
