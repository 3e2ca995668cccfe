with

contacts as (

    select
        customer_id,
        product_category,
        contact_cost,
        is_complaint,
        created_at
    from {{ ref('fct_contacts_costed') }}
    where customer_id is not null

),

order_counts as (

    -- orders (not cancelled) up to the as-of date
    select
        customer_id,
        order_count
    from {{ ref('int_customer_purchase_states') }}

),

segments as (

    select
        customer_id,
        lifecycle_stage,
        value_tier
    from {{ ref('customer_segments') }}

),

profitability as (

    select
        customer_id,
        net_profit_amount,
        is_profitable
    from {{ ref('customer_profitability') }}

),

lifetime_value as (

    select
        customer_id,
        probability_alive,
        clv_amount
    from {{ ref('customer_lifetime_value') }}

),

complaints as (

    select
        customer_id,
        count(*) filter (where is_complaint) as complaint_count,
        count(*) filter (
            where is_complaint and created_at >= {{ as_of_date() }} - {{ var('serial_complainer_window_days') }}
        ) as recent_complaint_count,
        count(*) as contact_count,
        sum(contact_cost) filter (where is_complaint) as complaint_cost,
        mode() within group (order by product_category) filter (
            where is_complaint
        ) as most_complained_category,
        min(created_at) filter (where is_complaint) as first_complaint_at,
        max(created_at) filter (where is_complaint) as last_complaint_at
    from contacts
    group by customer_id
    having count(*) filter (where is_complaint) > 0

),

-- the complainers' rows of the per-customer marts, each found by one scan against the
-- complainers (a hash semi-join), before the joins below: joined directly, the planner hashed
-- every customer of three marts (a million rows each in the bench, for 67,000 complainers)
complainer_order_counts as (

    select
        order_counts.customer_id,
        order_counts.order_count
    from order_counts
    where order_counts.customer_id in (select complaints.customer_id from complaints)

),

complainer_segments as (

    select
        segments.customer_id,
        segments.lifecycle_stage,
        segments.value_tier
    from segments
    where segments.customer_id in (select complaints.customer_id from complaints)

),

complainer_profitability as (

    select
        profitability.customer_id,
        profitability.net_profit_amount,
        profitability.is_profitable
    from profitability
    where profitability.customer_id in (select complaints.customer_id from complaints)

),

complainer_lifetime_value as (

    select
        lifetime_value.customer_id,
        lifetime_value.probability_alive,
        lifetime_value.clv_amount
    from lifetime_value
    where lifetime_value.customer_id in (select complaints.customer_id from complaints)

),

final as (

    select
        complaints.customer_id,
        complaints.most_complained_category,
        segments.lifecycle_stage,
        segments.value_tier,
        complaints.complaint_count,
        complaints.recent_complaint_count,
        complaints.contact_count,
        coalesce(order_counts.order_count, 0) as order_count,
        (
            complaints.complaint_count::numeric / nullif(order_counts.order_count, 0)
        )::numeric(10, 4) as complaints_per_order,
        (
            complaints.complaint_count::numeric / nullif(complaints.contact_count, 0)
        )::numeric(10, 4) as complaint_share_of_contacts,
        complaints.complaint_cost::numeric(14, 2) as complaint_cost,
        profitability.net_profit_amount,
        lifetime_value.probability_alive,
        lifetime_value.clv_amount,
        (
            complaints.recent_complaint_count >= {{ var('serial_complainer_min_complaints') }}
            and complaints.complaint_count
            > {{ var('serial_complainer_min_complaints_per_order') }}
            * coalesce(order_counts.order_count, 0)
        ) as is_serial_complainer,
        profitability.is_profitable,
        complaints.first_complaint_at,
        complaints.last_complaint_at
    from complaints
    left join complainer_order_counts as order_counts
        on complaints.customer_id = order_counts.customer_id
    left join complainer_segments as segments on complaints.customer_id = segments.customer_id
    left join complainer_profitability as profitability
        on complaints.customer_id = profitability.customer_id
    left join complainer_lifetime_value as lifetime_value
        on complaints.customer_id = lifetime_value.customer_id

)

select * from final
