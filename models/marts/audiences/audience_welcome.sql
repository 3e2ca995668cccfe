with

first_purchases as (

    select
        event_id,
        customer_id,
        sales_channel,
        order_key,
        purchased_at
    from {{ ref('first_purchase_events') }}
    where
        event_type = 'first_purchase'
        and not is_retracted
        and purchased_at >= {{ as_of_date() }} - {{ var('welcome_window_days') }}

),

sends as (

    select customer_id
    from {{ ref('stg_reverse_etl__sends') }}
    where audience = 'welcome' and is_sent

),

offers as (

    select
        customer_id,
        channel,
        contact_point,
        first_name,
        last_name,
        favourite_category
    from {{ ref('int_customer_offers') }}

),

customers as (

    select
        customer_id,
        birth_date,
        is_sms_consented,
        is_email_consented
    from {{ ref('dim_customers') }}

),

final as (

    select
        'welcome:' || first_purchases.customer_id as idempotency_key,
        first_purchases.customer_id,
        offers.channel,
        offers.contact_point,
        offers.first_name,
        offers.last_name,
        first_purchases.sales_channel as first_purchase_channel,
        first_purchases.order_key as first_order_key,
        offers.favourite_category as first_product_category,
        concat_ws(
            ',',
            'interests',
            case when customers.birth_date is null then 'birthday' end,
            case when not coalesce(customers.is_sms_consented, false) then 'sms_opt_in' end,
            case when not coalesce(customers.is_email_consented, false) then 'email_opt_in' end
        ) as preference_questions,
        first_purchases.event_id as reason,
        first_purchases.purchased_at
    from first_purchases
    inner join offers on first_purchases.customer_id = offers.customer_id
    inner join customers on first_purchases.customer_id = customers.customer_id
    left join sends on first_purchases.customer_id = sends.customer_id
    where sends.customer_id is null

)

select * from final
