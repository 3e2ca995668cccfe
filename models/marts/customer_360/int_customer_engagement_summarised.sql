with

identity_map as (

    select
        source_system,
        source_table,
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}

),

tickets as (

    select
        ticket_id,
        is_enquiry,
        is_complaint,
        handle_minutes,
        created_at
    from {{ ref('stg_helpdesk__tickets') }}

),

web_events as (

    select
        cookie_id,
        event_type,
        occurred_at
    from {{ ref('stg_web__events') }}

),

email_events as (

    select
        contact_id,
        event_type,
        occurred_at
    from {{ ref('stg_esp__events') }}

),

ticket_totals as (

    select
        identity_map.customer_id,
        count(*) filter (where tickets.is_enquiry) as enquiry_count,
        count(*) filter (where tickets.is_complaint) as complaint_count,
        sum(tickets.handle_minutes) as handle_minutes,
        max(tickets.created_at) as last_contact_at
    from tickets
    inner join identity_map
        on
            identity_map.source_system = 'helpdesk'
            and tickets.ticket_id::text = identity_map.source_record_id
    group by identity_map.customer_id

),

web_totals as (

    select
        identity_map.customer_id,
        count(*) as web_event_count,
        count(*) filter (where web_events.event_type = 'product_view') as product_view_count,
        max(web_events.occurred_at) as last_web_visit_at
    from web_events
    inner join identity_map
        on
            identity_map.source_system = 'web'
            and web_events.cookie_id = identity_map.source_record_id
    group by identity_map.customer_id

),

email_totals as (

    select
        identity_map.customer_id,
        count(*) filter (where email_events.event_type = 'send') as email_send_count,
        count(*) filter (where email_events.event_type = 'open') as email_open_count,
        count(*) filter (where email_events.event_type = 'click') as email_click_count,
        max(email_events.occurred_at) filter (where email_events.event_type = 'open')
            as last_email_open_at
    from email_events
    inner join identity_map
        on
            identity_map.source_system = 'esp'
            and email_events.contact_id = identity_map.source_record_id
    group by identity_map.customer_id

),

customers as (

    select distinct customer_id from identity_map

),

final as (

    select
        customers.customer_id,
        coalesce(ticket_totals.enquiry_count, 0) as enquiry_count,
        coalesce(ticket_totals.complaint_count, 0) as complaint_count,
        coalesce(ticket_totals.handle_minutes, 0) as handle_minutes,
        coalesce(web_totals.web_event_count, 0) as web_event_count,
        coalesce(web_totals.product_view_count, 0) as product_view_count,
        coalesce(email_totals.email_send_count, 0) as email_send_count,
        coalesce(email_totals.email_open_count, 0) as email_open_count,
        coalesce(email_totals.email_click_count, 0) as email_click_count,
        ticket_totals.last_contact_at,
        web_totals.last_web_visit_at,
        email_totals.last_email_open_at
    from customers
    left join ticket_totals on customers.customer_id = ticket_totals.customer_id
    left join web_totals on customers.customer_id = web_totals.customer_id
    left join email_totals on customers.customer_id = email_totals.customer_id

)

select * from final
