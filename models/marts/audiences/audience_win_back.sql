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

offers as (

    select
        customer_id,
        channel,
        contact_point,
        first_name,
        favourite_category,
        offer_code,
        offer_text
    from {{ ref('int_customer_offers') }}

),

customers as (

    select
        customer_id,
        email,
        phone,
        is_email_consented,
        is_sms_consented
    from {{ ref('dim_customers') }}

),

final as (

    select
        'win_back:' || segments.customer_id || ':'
        || to_char({{ as_of_date() }}, 'YYYY-MM') as idempotency_key,
        segments.customer_id,
        offers.channel,
        offers.contact_point,
        offers.first_name,
        -- for ad-audience matching (hashed by the connector), only where consented
        case when customers.is_email_consented then customers.email end as email,
        case when customers.is_sms_consented then customers.phone end as phone,
        segments.lifecycle_stage,
        segments.value_tier,
        offers.favourite_category,
        offers.offer_code,
        offers.offer_text,
        'win_back:' || to_char({{ as_of_date() }}, 'YYYY-MM') as reason,
        lifetime_value.probability_alive,
        lifetime_value.clv_amount,
        -- not contacted for this within the cooldown: message syncs send only these, while
        -- lists (ad audiences, CRM call lists) keep everyone who qualifies
        sends.customer_id is null as is_due_for_message
    from segments
    inner join lifetime_value on segments.customer_id = lifetime_value.customer_id
    inner join offers on segments.customer_id = offers.customer_id
    inner join customers on segments.customer_id = customers.customer_id
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
