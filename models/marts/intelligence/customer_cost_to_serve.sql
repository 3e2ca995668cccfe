{#- No nested loops: the planner reads the staged events' lower(event_type) = 'send' as 0.5%
    of the rows (no statistics on an expression of a view) and would probe identity_map once
    per send, millions of times, where one hash join reads it once (3x faster at 3M sends). -#}
{#- Incremental: only the customers whose costs may have changed since the model last wrote
    are summed again (macro delete_changed_cost_customers says which, and deletes their rows,
    so the new rows are appended: a delete+insert would look for the same rows again); every
    other customer keeps their rows. -#}
-- depends_on: {{ ref('int_customer_ids_assigned') }}
{{ config(
    materialized='incremental_batch',
    stages=['changed_cost_customers'],
    replaces='changed_cost_customers',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="set local enable_nestloop = off",
    indexes=[{'columns': ['customer_id']}],
) }}

{%- set changed = 'customer_id in (select customer_id from pg_temp.changed_cost_customers)'
    if is_incremental() else 'true' %}

with

contact_costs as (

    {{ cost_to_serve_contact_costs(changed) }}

),

return_costs as (

    {{ cost_to_serve_return_costs(changed) }}

),

identity_map as (

    select
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}
    where
        source_system = 'esp'
        and source_table = 'contacts'
        and {{ changed }}

),

email_sends as (

    select
        contact_id,
        occurred_at
    from {{ ref('stg_esp__events') }}
    where event_type = 'send'

),

marketing_costs as (

    select
        identity_map.customer_id,
        date_trunc('month', email_sends.occurred_at at time zone 'utc')::date as cost_month,
        count(*) as marketing_send_count,
        count(*) * {{ cost_to_serve_marketing_rate() }} as marketing_cost
    from email_sends
    inner join identity_map on email_sends.contact_id = identity_map.source_record_id
    group by
        identity_map.customer_id,
        date_trunc('month', email_sends.occurred_at at time zone 'utc')::date

),

costs_unioned as (

    select
        customer_id,
        cost_month,
        contact_count,
        enquiry_count,
        complaint_count,
        0::bigint as return_count,
        0::bigint as marketing_send_count,
        contact_cost,
        0::numeric as return_handling_cost,
        0::numeric as marketing_cost
    from contact_costs
    union all
    select
        customer_id,
        cost_month,
        0::bigint as contact_count,
        0::bigint as enquiry_count,
        0::bigint as complaint_count,
        return_count,
        0::bigint as marketing_send_count,
        0::numeric as contact_cost,
        return_handling_cost,
        0::numeric as marketing_cost
    from return_costs
    union all
    select
        customer_id,
        cost_month,
        0::bigint as contact_count,
        0::bigint as enquiry_count,
        0::bigint as complaint_count,
        0::bigint as return_count,
        marketing_send_count,
        0::numeric as contact_cost,
        0::numeric as return_handling_cost,
        marketing_cost
    from marketing_costs

),

final as (

    -- one aggregate over the three cost kinds (no union-then-join: one pass at millions of rows)
    select
        customer_id,
        sum(contact_count)::bigint as contact_count,
        sum(enquiry_count)::bigint as enquiry_count,
        sum(complaint_count)::bigint as complaint_count,
        sum(return_count)::bigint as return_count,
        sum(marketing_send_count)::bigint as marketing_send_count,
        coalesce(sum(contact_cost), 0)::numeric(14, 2) as contact_cost,
        coalesce(sum(return_handling_cost), 0)::numeric(14, 2) as return_handling_cost,
        coalesce(sum(marketing_cost), 0)::numeric(14, 2) as marketing_cost,
        (
            coalesce(sum(contact_cost), 0)
            + coalesce(sum(return_handling_cost), 0)
            + coalesce(sum(marketing_cost), 0)
        )::numeric(14, 2) as cost_to_serve,
        cost_month,
        current_timestamp as computed_at
    from costs_unioned
    group by customer_id, cost_month

)

select * from final
