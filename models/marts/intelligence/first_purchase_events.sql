-- depends_on: {{ ref('int_customer_order_changes') }}
{%- set event_log_watermark = 'greatest(recorded_at, retracted_at)' %}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with

orders as (

    select
        order_key,
        customer_id,
        sales_channel,
        revenue_amount,
        ordered_at,
        loaded_at
    from {{ ref('fct_orders') }}
    where
        customer_id is not null
        and not is_cancelled
        and {{ is_changed_order_customer(event_log_watermark) }}

),

customers as (

    select customer_id
    from {{ ref('dim_customers') }}

),

channel_firsts as (

    -- each customer's first order in each channel: one sort of the orders; the same instant in
    -- two orders is broken by the order key, so the choice is stable
    select distinct on (customer_id, sales_channel)
        order_key,
        customer_id,
        sales_channel,
        revenue_amount,
        ordered_at,
        loaded_at
    from orders
    order by customer_id asc, sales_channel asc, ordered_at asc, order_key asc

),

ranked as (

    select
        order_key,
        customer_id,
        sales_channel,
        revenue_amount,
        ordered_at,
        loaded_at,
        row_number() over (
            partition by customer_id order by ordered_at, order_key
        ) as purchase_rank
    from channel_firsts

),

current_events as (

    select
        md5(
            customer_id::text || '|'
            || case when purchase_rank = 1 then 'first_purchase' else 'first_purchase_in_channel' end
            || '|' || sales_channel || '|' || order_key
        ) as event_id,
        customer_id,
        case
            when purchase_rank = 1 then 'first_purchase' else 'first_purchase_in_channel'
        end as event_type,
        sales_channel,
        order_key,
        revenue_amount,
        ordered_at as purchased_at,
        loaded_at as order_loaded_at
    from ranked

),

logged as (

    -- the log so far (empty on the first build)
    {% if is_incremental() %}
        select
            event_id,
            customer_id,
            event_type,
            sales_channel,
            order_key,
            revenue_amount,
            is_retracted,
            purchased_at,
            order_loaded_at,
            recorded_at
        from {{ this }}
        where customer_id in ({{ changed_order_customers(event_log_watermark) }})
    {% else %}
        select
            event_id,
            customer_id,
            event_type,
            sales_channel,
            order_key,
            revenue_amount,
            false as is_retracted,
            purchased_at,
            order_loaded_at,
            current_timestamp as recorded_at
        from current_events
        where false
    {% endif %}

),

first_purchases_now as (

    select
        customer_id,
        purchased_at
    from current_events
    where event_type = 'first_purchase'

),

added as (

    -- new events, and retracted events that became true again (reinstated)
    select
        current_events.event_id,
        current_events.customer_id,
        current_events.event_type,
        current_events.sales_channel,
        current_events.order_key,
        null::text as retraction_reason,
        current_events.revenue_amount,
        false as is_retracted,
        current_events.purchased_at,
        current_events.order_loaded_at,
        coalesce(logged.recorded_at, current_timestamp) as recorded_at,
        null::timestamptz as retracted_at
    from current_events
    left join logged on current_events.event_id = logged.event_id
    where logged.event_id is null or logged.is_retracted

),

retracted as (

    select
        logged.event_id,
        logged.customer_id,
        logged.event_type,
        logged.sales_channel,
        logged.order_key,
        case
            when customers.customer_id is null then 'customer_merged'
            when orders.order_key is null then 'order_cancelled_or_removed'
            when orders.customer_id != logged.customer_id then 'order_reassigned'
            when
                logged.event_type = 'first_purchase'
                and first_purchases_now.purchased_at < logged.purchased_at
                then 'earlier_purchase_found'
            else 'superseded'
        end as retraction_reason,
        logged.revenue_amount,
        true as is_retracted,
        logged.purchased_at,
        logged.order_loaded_at,
        logged.recorded_at,
        current_timestamp as retracted_at
    from logged
    left join current_events on logged.event_id = current_events.event_id
    left join customers on logged.customer_id = customers.customer_id
    left join orders on logged.order_key = orders.order_key
    left join first_purchases_now on logged.customer_id = first_purchases_now.customer_id
    where
        current_events.event_id is null
        and not logged.is_retracted

),

changes as (

    select * from added
    union all
    select * from retracted

)

select * from changes
