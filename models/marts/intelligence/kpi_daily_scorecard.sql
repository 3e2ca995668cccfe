with

orders as (

    select
        customer_id,
        sales_channel,
        revenue_amount,
        ordered_at
    from {{ ref('fct_orders') }}
    where
        -- the orders of known customers are counted from their purchase days (one row per
        -- customer and day, not every order again): here only the anonymous ones (a store
        -- sale without a card), through fct_orders' partial index on them
        customer_id is null
        and not is_cancelled
        -- only the scorecard's days: the flow KPIs never look further back
        and {{ utc_date('ordered_at') }} >= {{ as_of_date() }} - {{ var('kpi_scorecard_days') }}

),

purchase_days as (

    select
        purchase_date,
        previous_purchase_date,
        order_count,
        web_order_count,
        phone_order_count,
        store_order_count,
        revenue_amount,
        web_revenue_amount,
        phone_revenue_amount,
        store_revenue_amount
    from {{ ref('int_customer_purchase_days') }}
    where purchase_date >= {{ as_of_date() }} - {{ var('kpi_scorecard_days') }}

),

first_purchases as (

    select
        customer_id,
        event_id,
        sales_channel,
        purchased_at
    from {{ ref('first_purchase_events') }}
    where
        event_type = 'first_purchase'
        and not is_retracted
        and {{ utc_date('purchased_at') }} >= {{ as_of_date() }} - {{ var('kpi_scorecard_days') }}

),

sends as (

    select
        customer_id,
        sent_at
    from {{ ref('stg_reverse_etl__sends') }}
    where audience = 'welcome' and is_sent

),

contacts as (

    select
        contact_cost,
        is_complaint,
        created_at
    from {{ ref('fct_contacts_costed') }}
    where {{ utc_date('created_at') }} >= {{ as_of_date() }} - {{ var('kpi_scorecard_days') }}

),

lifetime_value as (

    select
        probability_alive,
        clv_amount
    from {{ ref('customer_lifetime_value') }}

),

segments as (

    select lifecycle_stage
    from {{ ref('customer_segments') }}

),

active_daily as (

    select
        kpi_date,
        active_customer_count,
        retention_base_count,
        retained_customer_count
    from {{ ref('int_customers_active_daily') }}

),

days as (

    select calendar_day::date as kpi_date
    from generate_series(
        {{ as_of_date() }} - {{ var('kpi_scorecard_days') }},
        {{ as_of_date() }},
        interval '1 day'
    ) as calendar_day

),

channels as (

    select unnest(array['all', 'web', 'phone', 'store']) as sales_channel

),

repeat_days as (

    -- an order from a customer who had bought on an earlier day: its purchase day has a
    -- previous purchase day (purchase days carry their orders per channel: no join to orders)
    select
        purchase_date,
        sum(order_count) as all_order_count,
        sum(order_count) filter (where previous_purchase_date is not null) as all_repeat_order_count,
        sum(web_order_count) as web_order_count,
        sum(web_order_count) filter (where previous_purchase_date is not null) as web_repeat_order_count,
        sum(phone_order_count) as phone_order_count,
        sum(phone_order_count) filter (where previous_purchase_date is not null) as phone_repeat_order_count,
        sum(store_order_count) as store_order_count,
        sum(store_order_count) filter (where previous_purchase_date is not null) as store_repeat_order_count,
        sum(revenue_amount) as all_revenue_amount,
        sum(web_revenue_amount) as web_revenue_amount,
        sum(phone_revenue_amount) as phone_revenue_amount,
        sum(store_revenue_amount) as store_revenue_amount
    from purchase_days
    group by purchase_date

),

anonymous_orders as (

    select
        {{ utc_date('ordered_at') }} as kpi_date,
        coalesce(sales_channel, 'all') as sales_channel,
        count(*) as order_count,
        sum(revenue_amount) as revenue_amount
    from orders
    group by grouping sets (
        ({{ utc_date('ordered_at') }}, sales_channel), ({{ utc_date('ordered_at') }})
    )

),

known_orders as (

    -- the known customers' orders per day and channel ("all" too), one row each: the
    -- scorecard's orders and revenue (with the anonymous ones) and its repeat-purchase rate
    select
        repeat_days.purchase_date as kpi_date,
        channel_orders.sales_channel,
        channel_orders.order_count,
        channel_orders.repeat_order_count,
        channel_orders.revenue_amount
    from repeat_days
    cross join lateral (
        values
        (
            'all', repeat_days.all_order_count, repeat_days.all_repeat_order_count,
            repeat_days.all_revenue_amount
        ),
        (
            'web', repeat_days.web_order_count, repeat_days.web_repeat_order_count,
            repeat_days.web_revenue_amount
        ),
        (
            'phone', repeat_days.phone_order_count, repeat_days.phone_repeat_order_count,
            repeat_days.phone_revenue_amount
        ),
        (
            'store', repeat_days.store_order_count, repeat_days.store_repeat_order_count,
            repeat_days.store_revenue_amount
        )
    ) as channel_orders (sales_channel, order_count, repeat_order_count, revenue_amount)

),

known_and_anonymous_orders as (

    select
        kpi_date,
        sales_channel,
        order_count,
        revenue_amount
    from known_orders
    union all
    select
        kpi_date,
        sales_channel,
        order_count,
        revenue_amount
    from anonymous_orders

),

daily_orders as (

    select
        kpi_date,
        sales_channel,
        sum(order_count)::bigint as order_count,
        sum(revenue_amount) as revenue_amount
    from known_and_anonymous_orders
    group by kpi_date, sales_channel

),

repeat_orders as (

    select
        kpi_date,
        sales_channel,
        repeat_order_count::numeric / nullif(order_count, 0) as repeat_purchase_rate
    from known_orders

),

welcomes as (

    select
        first_purchases.customer_id,
        first_purchases.sales_channel,
        first_purchases.purchased_at,
        min(sends.sent_at) as welcomed_at
    from first_purchases
    left join sends
        on
            first_purchases.customer_id = sends.customer_id
            and first_purchases.purchased_at <= sends.sent_at
    group by first_purchases.customer_id, first_purchases.sales_channel, first_purchases.purchased_at

),

daily_new_customers as (

    select
        {{ utc_date('purchased_at') }} as kpi_date,
        coalesce(sales_channel, 'all') as sales_channel,
        count(*) as new_customer_count,
        count(welcomed_at)::numeric / nullif(count(*), 0) as welcomed_share,
        percentile_cont(0.5) within group (
            order by extract(epoch from welcomed_at - purchased_at) / 3600.0
        ) as median_welcome_latency_hours
    from welcomes
    group by grouping sets (
        ({{ utc_date('purchased_at') }}, sales_channel), ({{ utc_date('purchased_at') }})
    )

),

daily_contacts as (

    select
        {{ utc_date('created_at') }} as kpi_date,
        'all' as sales_channel,
        count(*) as contact_count,
        count(*) filter (where is_complaint) as complaint_count,
        sum(contact_cost) as contact_cost
    from contacts
    group by {{ utc_date('created_at') }}

),

point_in_time as (

    select
        {{ as_of_date() }} as kpi_date,
        'all' as sales_channel,
        avg(1 - probability_alive) as average_churn_risk,
        sum(clv_amount) as total_clv_amount,
        avg(clv_amount) as average_clv_amount
    from lifetime_value

),

segment_sizes as (

    select
        {{ as_of_date() }} as kpi_date,
        'all' as sales_channel,
        count(*) filter (where lifecycle_stage = 'prospect') as prospect_count,
        count(*) filter (where lifecycle_stage = 'new') as new_stage_count,
        count(*) filter (where lifecycle_stage = 'active') as active_stage_count,
        count(*) filter (where lifecycle_stage = 'won_back') as won_back_stage_count,
        count(*) filter (where lifecycle_stage = 'at_risk') as at_risk_stage_count,
        count(*) filter (where lifecycle_stage = 'lapsed') as lapsed_stage_count
    from segments

),

final as (

    select
        days.kpi_date,
        channels.sales_channel,
        coalesce(daily_orders.order_count, 0) as order_count,
        coalesce(daily_orders.revenue_amount, 0)::numeric(16, 2) as revenue_amount,
        coalesce(daily_new_customers.new_customer_count, 0) as new_customer_count,
        daily_new_customers.welcomed_share::numeric(6, 4) as welcomed_share,
        daily_new_customers.median_welcome_latency_hours::numeric(10, 2)
            as median_welcome_latency_hours,
        repeat_orders.repeat_purchase_rate::numeric(6, 4) as repeat_purchase_rate,
        active_daily.active_customer_count,
        (
            active_daily.retained_customer_count::numeric
            / nullif(active_daily.retention_base_count, 0)
        )::numeric(6, 4) as retention_rate_12m,
        daily_contacts.contact_count,
        daily_contacts.complaint_count,
        (
            1000.0 * daily_contacts.complaint_count / nullif(daily_orders.order_count, 0)
        )::numeric(10, 2) as complaints_per_1000_orders,
        daily_contacts.contact_cost::numeric(14, 2) as contact_cost,
        (
            daily_contacts.contact_cost / nullif(active_daily.active_customer_count, 0)
        )::numeric(12, 4) as contact_cost_per_active_customer,
        point_in_time.average_churn_risk::numeric(6, 4) as average_churn_risk,
        point_in_time.total_clv_amount::numeric(18, 2) as total_clv_amount,
        point_in_time.average_clv_amount::numeric(14, 2) as average_clv_amount,
        segment_sizes.prospect_count,
        segment_sizes.new_stage_count,
        segment_sizes.active_stage_count,
        segment_sizes.won_back_stage_count,
        segment_sizes.at_risk_stage_count,
        segment_sizes.lapsed_stage_count
    from days
    cross join channels
    left join daily_orders
        on
            days.kpi_date = daily_orders.kpi_date
            and channels.sales_channel = daily_orders.sales_channel
    left join repeat_orders
        on
            days.kpi_date = repeat_orders.kpi_date
            and channels.sales_channel = repeat_orders.sales_channel
    left join daily_new_customers
        on
            days.kpi_date = daily_new_customers.kpi_date
            and channels.sales_channel = daily_new_customers.sales_channel
    left join daily_contacts
        on
            days.kpi_date = daily_contacts.kpi_date
            and channels.sales_channel = daily_contacts.sales_channel
    left join active_daily
        on
            days.kpi_date = active_daily.kpi_date
            and channels.sales_channel = 'all'
    left join point_in_time
        on
            days.kpi_date = point_in_time.kpi_date
            and channels.sales_channel = point_in_time.sales_channel
    left join segment_sizes
        on
            days.kpi_date = segment_sizes.kpi_date
            and channels.sales_channel = segment_sizes.sales_channel

)

select * from final
