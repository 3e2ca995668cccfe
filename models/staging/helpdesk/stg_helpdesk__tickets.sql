with

source as (

    select * from {{ source('helpdesk', 'tickets') }}

),

names_cleaned as (

    select
        *,
        -- stray punctuation around a typed name ("Daniel. Cooper,") is not a "Last, First"
        nullif(regexp_replace(btrim(requester_name), '^[\s.,;]+|[\s.,;]+$', '', 'g'), '')
            as requester_name_cleaned
    from source

),

names_split as (

    select
        *,
        case
            when requester_name_cleaned like '%,%'
                then btrim(split_part(requester_name_cleaned, ',', 2))
            when requester_name_cleaned !~ '\s'
                then requester_name_cleaned
            else btrim(regexp_replace(requester_name_cleaned, '\s+\S+$', ''))
        end as parsed_first_name,
        case
            when requester_name_cleaned like '%,%'
                then btrim(split_part(requester_name_cleaned, ',', 1))
            when requester_name_cleaned !~ '\s'
                then null
            else substring(requester_name_cleaned from '\S+$')
        end as parsed_last_name
    from names_cleaned

),

renamed as (

    select
        ticket_id,
        lower(contact_type) as contact_type,
        lower(channel) as contact_channel,
        lower(status) as ticket_status,
        subject,
        upper(nullif(btrim(product_sku), '')) as product_sku,
        product_category,
        nullif(btrim(requester_name), '') as requester_name,
        nullif(parsed_first_name, '') as requester_first_name,
        nullif(parsed_last_name, '') as requester_last_name,
        {{ normalize_name('parsed_first_name') }} as requester_first_name_normalized,
        {{ normalize_name('parsed_last_name') }} as requester_last_name_normalized,
        nullif(btrim(requester_email), '') as requester_email,
        {{ normalize_email('requester_email') }} as email_normalized,
        nullif(btrim(requester_phone), '') as requester_phone,
        {{ normalize_phone('requester_phone', source_country('helpdesk')) }} as phone_e164,
        {{ source_country('helpdesk') }} as country_code,
        handle_minutes::numeric(10, 2) as handle_minutes,
        lower(contact_type) = 'complaint' as is_complaint,
        lower(contact_type) = 'enquiry' as is_enquiry,
        created_at::timestamptz as created_at,
        updated_at::timestamptz as updated_at,
        solved_at::timestamptz as solved_at,
        {{ dlt_loaded_at() }} as loaded_at

    from names_split

)

select * from renamed
