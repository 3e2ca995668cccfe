with

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
        first_name,
        last_name
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
        reachable.customer_id,
        reachable.channel,
        reachable.contact_point,
        customers.first_name,
        customers.last_name,
        top_categories.favourite_category,
        top_categories.top_product_categories,
        coalesce(category_offers.offer_code, default_offer.offer_code) as offer_code,
        coalesce(category_offers.offer_text, default_offer.offer_text) as offer_text,
        coalesce(category_offers.discount_percent, default_offer.discount_percent)
            as discount_percent
    from reachable
    inner join customers on reachable.customer_id = customers.customer_id
    left join top_categories on reachable.customer_id = top_categories.customer_id
    left join offers as category_offers
        on top_categories.favourite_category = category_offers.product_category
    left join offers as default_offer on default_offer.product_category = '*'

)

select * from final
