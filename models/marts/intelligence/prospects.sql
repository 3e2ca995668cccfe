with

contacts as (

    select
        ticket_id,
        customer_id,
        contact_channel,
        product_category,
        is_enquiry,
        created_at
    from {{ ref('fct_contacts_costed') }}
    where
        customer_id is not null
        and is_enquiry
        and created_at >= {{ as_of_date() }} - {{ var('prospect_lookback_days') }}

),

tickets as (

    select
        ticket_id,
        subject,
        product_sku
    from {{ ref('stg_helpdesk__tickets') }}

),

customers as (

    select
        customer_id,
        first_name,
        last_name,
        email,
        phone,
        postcode,
        is_email_consented,
        is_sms_consented,
        is_post_consented,
        address_line
    from {{ ref('dim_customers') }}

),

buyers as (

    select customer_id
    from {{ ref('customer_rfm_summary') }}

),

enquiries as (

    select
        contacts.customer_id,
        contacts.contact_channel,
        contacts.product_category,
        tickets.subject,
        tickets.product_sku,
        contacts.created_at
    from contacts
    inner join tickets on contacts.ticket_id = tickets.ticket_id
    left join buyers on contacts.customer_id = buyers.customer_id
    where buyers.customer_id is null

),

summarised as (

    select
        customer_id,
        count(*) as enquiry_count,
        string_agg(distinct product_category, ', ' order by product_category)
            as enquired_product_categories,
        string_agg(distinct product_sku, ', ' order by product_sku) as enquired_product_skus,
        (array_agg(subject order by created_at desc))[1]::text as last_enquiry_subject,
        mode() within group (order by contact_channel) as usual_contact_channel,
        min(created_at) as first_enquiry_at,
        max(created_at) as last_enquiry_at
    from enquiries
    group by customer_id

),

final as (

    select
        summarised.customer_id,
        customers.first_name,
        customers.last_name,
        customers.email,
        customers.phone,
        customers.address_line,
        customers.postcode,
        summarised.enquired_product_categories,
        summarised.enquired_product_skus,
        summarised.last_enquiry_subject,
        summarised.usual_contact_channel,
        summarised.enquiry_count,
        coalesce(customers.is_email_consented and customers.email is not null, false)
            as is_email_contactable,
        coalesce(customers.is_sms_consented and customers.phone is not null, false)
            as is_sms_contactable,
        coalesce(customers.is_post_consented and customers.postcode is not null, false)
            as is_post_contactable,
        summarised.first_enquiry_at,
        summarised.last_enquiry_at
    from summarised
    inner join customers on summarised.customer_id = customers.customer_id

)

select * from final
