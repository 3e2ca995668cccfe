{#- Public. Valuable customers drifting away: value tier in var win_back_value_tiers and a
    probability of still being active below var win_back_max_probability_alive (BG/NBD), through the cheapest channel they
    consented to, with their favourite category's offer; is_due_for_message = not contacted
    for this within var win_back_cooldown_days. Suppressed: erased, open complaint,
    no consented channel. -#}
with

segments as (

    select
        customer_id,
        lifecycle_stage,
        value_tier
    from {{ ref('customer_segments') }}

),

lifetime_value as (

    select
        customer_id,
        probability_alive,
        clv_amount
    from {{ ref('customer_lifetime_value') }}
    where is_predicted

),

sends as (

    select customer_id
    from {{ ref('stg_reverse_etl__sends') }}
    where
        audience = 'win_back'
        and is_sent
        and sent_at >= {{ as_of_date() }} - {{ var('win_back_cooldown_days') }}

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
        first_name,
        email,
        phone,
        is_email_consented,
        is_sms_consented
    from {{ ref('dim_customers') }}

),

categories as (

    select
        customer_id,
        product_category
    from {{ ref('int_customer_categories_ranked') }}
    where category_rank = 1

),

offers as (

    select
        product_category,
        offer_code,
        offer_text
    from {{ ref('voucher_offers') }}

),

final as (

    select
        'win_back:' || segments.customer_id || ':'
        || to_char({{ as_of_date() }}, 'YYYY-MM') as idempotency_key,
        segments.customer_id,
        reachable.channel,
        reachable.contact_point,
        customers.first_name,
        -- for ad-audience matching (hashed by the connector), only where consented
        case when customers.is_email_consented then customers.email end as email,
        case when customers.is_sms_consented then customers.phone end as phone,
        segments.lifecycle_stage,
        segments.value_tier,
        categories.product_category as favourite_category,
        coalesce(category_offers.offer_code, default_offer.offer_code) as offer_code,
        coalesce(category_offers.offer_text, default_offer.offer_text) as offer_text,
        'win_back:' || to_char({{ as_of_date() }}, 'YYYY-MM') as reason,
        lifetime_value.probability_alive,
        lifetime_value.clv_amount,
        -- not contacted for this within the cooldown: message syncs send only these, while
        -- lists (ad audiences, CRM call lists) keep everyone who qualifies
        sends.customer_id is null as is_due_for_message
    from segments
    inner join lifetime_value on segments.customer_id = lifetime_value.customer_id
    inner join reachable on segments.customer_id = reachable.customer_id
    inner join customers on segments.customer_id = customers.customer_id
    left join categories on segments.customer_id = categories.customer_id
    left join offers as category_offers
        on categories.product_category = category_offers.product_category
    left join offers as default_offer on default_offer.product_category = '*'
    left join sends on segments.customer_id = sends.customer_id
    where
        segments.value_tier in (
            {%- for tier in var('win_back_value_tiers') %}
                '{{ tier }}'{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
        and lifetime_value.probability_alive < {{ var('win_back_max_probability_alive') }}

)

select * from final
