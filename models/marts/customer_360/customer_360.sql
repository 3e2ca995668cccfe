with

customers as (

    select * from {{ ref('dim_customers') }}

),

orders as (

    select * from {{ ref('int_customer_orders_summarised') }}

),

engagement as (

    select * from {{ ref('int_customer_engagement_summarised') }}

),

final as (

    select
        customers.customer_id,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.address_line,
        customers.postcode,
        customers.source_systems,
        coalesce(orders.order_count, 0) as order_count,
        coalesce(orders.web_order_count, 0) as web_order_count,
        coalesce(orders.phone_order_count, 0) as phone_order_count,
        coalesce(orders.store_order_count, 0) as store_order_count,
        coalesce(orders.revenue_amount, 0)::numeric(18, 2) as revenue_amount,
        coalesce(orders.gross_margin_amount, 0)::numeric(18, 2) as gross_margin_amount,
        coalesce(orders.refunded_amount, 0)::numeric(18, 2) as refunded_amount,
        coalesce(orders.web_return_count, 0) as web_return_count,
        coalesce(orders.phone_return_count, 0) as phone_return_count,
        coalesce(orders.store_return_count, 0) as store_return_count,
        coalesce(engagement.enquiry_count, 0) as enquiry_count,
        coalesce(engagement.complaint_count, 0) as complaint_count,
        coalesce(engagement.handle_minutes, 0)::numeric(12, 2) as handle_minutes,
        coalesce(engagement.web_event_count, 0) as web_event_count,
        coalesce(engagement.product_view_count, 0) as product_view_count,
        coalesce(engagement.email_send_count, 0) as email_send_count,
        coalesce(engagement.email_open_count, 0) as email_open_count,
        coalesce(engagement.email_click_count, 0) as email_click_count,
        customers.is_email_consented,
        customers.is_sms_consented,
        customers.is_post_consented,
        coalesce(orders.order_count, 0) > 0 as is_buyer,
        customers.birth_date,
        orders.first_purchase_at,
        orders.last_purchase_at,
        orders.first_web_purchase_at,
        orders.last_web_purchase_at,
        orders.first_phone_purchase_at,
        orders.last_phone_purchase_at,
        orders.first_store_purchase_at,
        orders.last_store_purchase_at,
        engagement.last_contact_at,
        engagement.last_web_visit_at,
        engagement.last_email_open_at
    from customers
    left join orders on customers.customer_id = orders.customer_id
    left join engagement on customers.customer_id = engagement.customer_id

)

select * from final
