with

orders as (

    select
        customer_id,
        ordered_at
    from {{ ref('fct_orders') }}
    where
        customer_id is not null
        and not is_cancelled
        and ordered_at >= {{ as_of_date() }} - {{ var('thank_you_window_days') }}

),

enquiries as (

    select
        customer_id,
        created_at
    from {{ ref('fct_contacts_costed') }}
    where
        customer_id is not null
        and is_enquiry
        and created_at >= {{ as_of_date() }} - {{ var('thank_you_window_days') }}

),

sends as (

    select
        customer_id,
        sent_at
    from {{ ref('stg_reverse_etl__sends') }}
    where
        audience = 'thank_you'
        and is_sent
        and sent_at >= {{ as_of_date() }} - {{ var('thank_you_cooldown_days') }}

),

offers as (

    select
        customer_id,
        channel,
        contact_point,
        first_name,
        top_product_categories,
        offer_code,
        offer_text,
        discount_percent
    from {{ ref('int_customer_offers') }}

),

activity as (

    select
        customer_id,
        'purchase' as activity_type,
        ordered_at as activity_at
    from orders
    union all
    select
        customer_id,
        'enquiry' as activity_type,
        created_at as activity_at
    from enquiries

),

latest_activity as (

    select
        customer_id,
        (array_agg(activity_type order by activity_at desc))[1] as activity_type,
        max(activity_at) as activity_at
    from activity
    group by customer_id

),

final as (

    select
        'thank_you:' || latest_activity.customer_id || ':'
        || to_char(latest_activity.activity_at at time zone 'utc', 'YYYY-MM-DD')
            as idempotency_key,
        latest_activity.customer_id,
        offers.channel,
        offers.contact_point,
        offers.first_name,
        latest_activity.activity_type,
        offers.top_product_categories,
        offers.offer_code,
        offers.offer_text,
        offers.discount_percent,
        latest_activity.activity_type || ':'
        || to_char(latest_activity.activity_at at time zone 'utc', 'YYYY-MM-DD') as reason,
        latest_activity.activity_at
    from latest_activity
    inner join offers on latest_activity.customer_id = offers.customer_id
    left join sends on latest_activity.customer_id = sends.customer_id
    where sends.customer_id is null

)

select * from final
