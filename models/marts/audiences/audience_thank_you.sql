{#- Public. Customers to thank: a purchase or an enquiry within var thank_you_window_days, not
    thanked within var thank_you_cooldown_days, with their top product categories and a
    voucher for their favourite one (seeds/voucher_offers.csv), through the cheapest channel
    they consented to. Suppressed: erased, open complaint, no consented channel. -#}
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

reachable as (

    select
        customer_id,
        channel,
        contact_point
    from {{ ref('int_customer_channels_reachable') }}
    where reachable_rank = 1

),

customers as (

    select
        customer_id,
        first_name
    from {{ ref('dim_customers') }}

),

categories as (

    select
        customer_id,
        product_category,
        category_rank
    from {{ ref('int_customer_categories_ranked') }}
    where category_rank <= 3

),

offers as (

    select
        product_category,
        offer_code,
        offer_text,
        discount_percent
    from {{ ref('voucher_offers') }}

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

top_categories as (

    select
        customer_id,
        string_agg(product_category, ',' order by category_rank) as top_product_categories,
        min(product_category) filter (where category_rank = 1) as favourite_category
    from categories
    group by customer_id

),

final as (

    select
        'thank_you:' || latest_activity.customer_id || ':'
        || to_char(latest_activity.activity_at at time zone 'utc', 'YYYY-MM-DD')
            as idempotency_key,
        latest_activity.customer_id,
        reachable.channel,
        reachable.contact_point,
        customers.first_name,
        latest_activity.activity_type,
        top_categories.top_product_categories,
        coalesce(category_offers.offer_code, default_offer.offer_code) as offer_code,
        coalesce(category_offers.offer_text, default_offer.offer_text) as offer_text,
        coalesce(category_offers.discount_percent, default_offer.discount_percent)
            as discount_percent,
        latest_activity.activity_type || ':'
        || to_char(latest_activity.activity_at at time zone 'utc', 'YYYY-MM-DD') as reason,
        latest_activity.activity_at
    from latest_activity
    inner join reachable on latest_activity.customer_id = reachable.customer_id
    inner join customers on latest_activity.customer_id = customers.customer_id
    left join top_categories on latest_activity.customer_id = top_categories.customer_id
    left join offers as category_offers
        on top_categories.favourite_category = category_offers.product_category
    left join offers as default_offer on default_offer.product_category = '*'
    left join sends on latest_activity.customer_id = sends.customer_id
    where sends.customer_id is null

)

select * from final
