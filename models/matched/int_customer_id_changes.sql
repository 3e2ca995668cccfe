{{ config(
    materialized='incremental',
    unique_key='customer_change_id',
    incremental_strategy='delete+insert',
) }}

with

-- the ids this run changed (assigned_at = this run's time: the index finds them)
moved as materialized (

    select
        record_key,
        customer_id,
        previous_customer_id,
        assigned_at
    from {{ ref('int_customer_ids_assigned') }}
    where
        assigned_at >= (
            select max(newest.assigned_at) from {{ ref('int_customer_ids_assigned') }} as newest
        )
        and changed_in_invocation_id = '{{ invocation_id }}'
        and previous_customer_id is not null

),

still_alive as (

    select distinct assignments.customer_id
    from {{ ref('int_customer_ids_assigned') }} as assignments
    where assignments.customer_id in (select moved.previous_customer_id from moved)

),

moved_links as (

    select
        moved.previous_customer_id,
        moved.customer_id,
        links.match_rule,
        links.evidence
    from moved
    inner join {{ ref('int_identity_links_unioned') }} as links
        on moved.record_key = links.left_record_key
    union all
    select
        moved.previous_customer_id,
        moved.customer_id,
        links.match_rule,
        links.evidence
    from moved
    inner join {{ ref('int_identity_links_unioned') }} as links
        on moved.record_key = links.right_record_key

),

link_evidence as (

    select
        previous_customer_id,
        customer_id,
        string_agg(distinct match_rule, ', ') as match_rules,
        left(string_agg(distinct evidence, '; '), 2000) as evidence
    from moved_links
    group by previous_customer_id, customer_id

),

changes as (

    select
        md5(
            '{{ invocation_id }}' || ':' || moved.previous_customer_id || ':' || moved.customer_id
        ) as customer_change_id,
        moved.customer_id,
        moved.previous_customer_id,
        case
            when still_alive.customer_id is null then 'merge'
            else 'split'
        end as change_type,
        max(link_evidence.match_rules) as match_rules,
        max(link_evidence.evidence) as evidence,
        count(*) as moved_record_count,
        max(moved.assigned_at) as changed_at
    from moved
    left join still_alive on moved.previous_customer_id = still_alive.customer_id
    left join link_evidence
        on
            moved.previous_customer_id = link_evidence.previous_customer_id
            and moved.customer_id = link_evidence.customer_id
    group by moved.customer_id, moved.previous_customer_id, still_alive.customer_id

)

select * from changes
