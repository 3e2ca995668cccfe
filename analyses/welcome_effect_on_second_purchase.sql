-- Does a welcome bring the second purchase sooner? New customers (first_purchase events that
-- stand) split by whether they were welcomed (reverse-ETL send ledger), with the share who
-- bought again within 30 / 90 days and the median days to the second purchase. Observational:
-- compare cohorts of similar first-purchase dates, and prefer a hold-out group for causality.
with

first_purchases as (

    select
        customer_id,
        sales_channel,
        purchased_at
    from {{ ref('first_purchase_events') }}
    where event_type = 'first_purchase' and not is_retracted

),

welcomes as (

    select
        customer_id,
        min(sent_at) as welcomed_at
    from {{ ref('stg_reverse_etl__sends') }}
    where audience = 'welcome' and is_sent
    group by customer_id

),

purchase_days as (

    select
        customer_id,
        purchase_date,
        previous_purchase_date
    from {{ ref('int_customer_purchase_days') }}

),

second_purchases as (

    select
        customer_id,
        min(purchase_date) as second_purchase_date
    from purchase_days
    where previous_purchase_date is not null
    group by customer_id

),

cohort as (

    select
        first_purchases.customer_id,
        first_purchases.sales_channel,
        welcomes.welcomed_at is not null as is_welcomed,
        second_purchases.second_purchase_date
        - (first_purchases.purchased_at at time zone 'utc')::date as days_to_second_purchase
    from first_purchases
    left join welcomes on first_purchases.customer_id = welcomes.customer_id
    left join second_purchases on first_purchases.customer_id = second_purchases.customer_id
    -- only customers who have had 90 days to come back
    where first_purchases.purchased_at < current_date - 90

)

select
    is_welcomed,
    sales_channel,
    count(*) as new_customers,
    round(avg((days_to_second_purchase <= 30)::integer), 3) as second_purchase_within_30_days,
    round(avg((days_to_second_purchase <= 90)::integer), 3) as second_purchase_within_90_days,
    percentile_cont(0.5) within group (order by days_to_second_purchase) as median_days_to_second
from cohort
group by is_welcomed, sales_channel
order by sales_channel, is_welcomed
