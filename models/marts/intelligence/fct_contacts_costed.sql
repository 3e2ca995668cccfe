with

tickets as (

    select
        ticket_id,
        contact_type,
        contact_channel,
        product_category,
        handle_minutes,
        is_complaint,
        is_enquiry,
        created_at
    from {{ ref('stg_helpdesk__tickets') }}

),

identity_map as (

    select
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}
    where source_system = 'helpdesk' and source_table = 'tickets'

),

rates as (

    select
        contact_channel,
        contact_type,
        cost_per_contact,
        cost_per_handled_minute
    from {{ ref('contact_cost_rates') }}

),

median_minutes as (

    select
        contact_channel,
        contact_type,
        percentile_cont(0.5) within group (order by handle_minutes) as median_handle_minutes
    from tickets
    where handle_minutes is not null
    group by contact_channel, contact_type

),

costed as (

    select
        tickets.ticket_id,
        identity_map.customer_id,
        tickets.contact_type,
        tickets.contact_channel,
        tickets.product_category::text as product_category,
        coalesce(
            tickets.handle_minutes, median_minutes.median_handle_minutes::numeric, 0
        )::numeric(10, 2) as handle_minutes,
        rates.cost_per_contact,
        rates.cost_per_handled_minute,
        tickets.is_complaint,
        tickets.is_enquiry,
        tickets.handle_minutes is null as is_handle_minutes_estimated,
        rates.contact_type is not null as has_cost_rate,
        tickets.created_at
    from tickets
    left join identity_map on tickets.ticket_id::text = identity_map.source_record_id
    left join rates
        on
            tickets.contact_channel = rates.contact_channel
            and tickets.contact_type = rates.contact_type
    left join median_minutes
        on
            tickets.contact_channel = median_minutes.contact_channel
            and tickets.contact_type = median_minutes.contact_type

),

final as (

    select
        ticket_id,
        customer_id,
        contact_type,
        contact_channel,
        product_category,
        handle_minutes,
        cost_per_contact::numeric(10, 4) as cost_per_contact,
        cost_per_handled_minute::numeric(10, 4) as cost_per_handled_minute,
        (cost_per_contact + handle_minutes * cost_per_handled_minute)::numeric(12, 2)
            as contact_cost,
        is_complaint,
        is_enquiry,
        is_handle_minutes_estimated,
        has_cost_rate,
        created_at
    from costed

)

select * from final
