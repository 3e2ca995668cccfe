{#- Public. What each customer cost us to serve, per calendar month: their own contacts at
    their own costed amounts (fct_contacts_costed), their returns at the handling cost of the
    channel they came back through, and the marketing messages sent to them, at the seeded
    unit costs (seeds/service_cost_rates.csv). No averages: a customer who never calls costs
    nothing in contacts. -#}
with

contacts as (

    select
        customer_id,
        contact_cost,
        is_complaint,
        is_enquiry,
        created_at
    from {{ ref('fct_contacts_costed') }}
    where customer_id is not null

),

returns as (

    select
        customer_id,
        sales_channel,
        returned_at
    from {{ ref('int_returns_attributed') }}
    where customer_id is not null

),

email_sends as (

    select
        contact_id,
        occurred_at
    from {{ ref('stg_esp__events') }}
    where event_type = 'send'

),

identity_map as (

    select
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}
    where source_system = 'esp' and source_table = 'contacts'

),

rates as (

    select
        activity,
        channel,
        unit_cost
    from {{ ref('service_cost_rates') }}

),

contact_costs as (

    select
        customer_id,
        date_trunc('month', created_at at time zone 'utc')::date as cost_month,
        count(*) as contact_count,
        count(*) filter (where is_enquiry) as enquiry_count,
        count(*) filter (where is_complaint) as complaint_count,
        sum(contact_cost) as contact_cost
    from contacts
    group by customer_id, date_trunc('month', created_at at time zone 'utc')::date

),

return_costs as (

    select
        returns.customer_id,
        date_trunc('month', returns.returned_at at time zone 'utc')::date as cost_month,
        count(*) as return_count,
        sum(rates.unit_cost) as return_handling_cost
    from returns
    left join rates
        on
            rates.activity = 'return_handling'
            and returns.sales_channel = rates.channel
    group by returns.customer_id, date_trunc('month', returns.returned_at at time zone 'utc')::date

),

marketing_costs as (

    select
        identity_map.customer_id,
        date_trunc('month', email_sends.occurred_at at time zone 'utc')::date as cost_month,
        count(*) as marketing_send_count,
        count(*) * max(rates.unit_cost) as marketing_cost
    from email_sends
    inner join identity_map on email_sends.contact_id = identity_map.source_record_id
    left join rates on rates.activity = 'marketing_send' and rates.channel = 'email'
    group by
        identity_map.customer_id,
        date_trunc('month', email_sends.occurred_at at time zone 'utc')::date

),

customer_months as (

    select
        customer_id,
        cost_month
    from contact_costs
    union
    select
        customer_id,
        cost_month
    from return_costs
    union
    select
        customer_id,
        cost_month
    from marketing_costs

),

final as (

    select
        customer_months.customer_id,
        coalesce(contact_costs.contact_count, 0) as contact_count,
        coalesce(contact_costs.enquiry_count, 0) as enquiry_count,
        coalesce(contact_costs.complaint_count, 0) as complaint_count,
        coalesce(return_costs.return_count, 0) as return_count,
        coalesce(marketing_costs.marketing_send_count, 0) as marketing_send_count,
        coalesce(contact_costs.contact_cost, 0)::numeric(14, 2) as contact_cost,
        coalesce(return_costs.return_handling_cost, 0)::numeric(14, 2) as return_handling_cost,
        coalesce(marketing_costs.marketing_cost, 0)::numeric(14, 2) as marketing_cost,
        (
            coalesce(contact_costs.contact_cost, 0)
            + coalesce(return_costs.return_handling_cost, 0)
            + coalesce(marketing_costs.marketing_cost, 0)
        )::numeric(14, 2) as cost_to_serve,
        customer_months.cost_month
    from customer_months
    left join contact_costs
        on
            customer_months.customer_id = contact_costs.customer_id
            and customer_months.cost_month = contact_costs.cost_month
    left join return_costs
        on
            customer_months.customer_id = return_costs.customer_id
            and customer_months.cost_month = return_costs.cost_month
    left join marketing_costs
        on
            customer_months.customer_id = marketing_costs.customer_id
            and customer_months.cost_month = marketing_costs.cost_month

)

select * from final
