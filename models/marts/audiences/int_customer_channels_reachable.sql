with

customers as (

    select
        customer_id,
        email,
        phone,
        address_line,
        postcode,
        is_email_consented,
        is_sms_consented,
        is_post_consented
    from {{ ref('dim_customers') }}

),

erasures as (

    select
        customer_id,
        email_normalized,
        phone_e164
    from {{ ref('stg_reverse_etl__erasure_requests') }}

),

-- the hashed identifiers of people erased by `ciw forget` (docs/erasure.md)
tombstones as (

    select tombstone_sha256
    from {{ ref('stg_reverse_etl__erasure_tombstones') }}
    where identifier_type in ('email', 'phone')

),

-- an address the email service provider reported as bounced is never mailed again, whatever
-- consent comes later; a new address is reachable
bounced_emails as (

    select distinct email_normalized
    from {{ ref('stg_esp__events') }}
    where event_type = 'bounce' and email_normalized is not null

),

tickets as (

    select ticket_id
    from {{ ref('stg_helpdesk__tickets') }}
    where is_complaint and ticket_status in ('open', 'pending')

),

identity_map as (

    select
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}
    where source_system = 'helpdesk' and source_table = 'tickets'

),

open_complaints as (

    select distinct identity_map.customer_id
    from tickets
    inner join identity_map on tickets.ticket_id::text = identity_map.source_record_id

),

-- the numbers of a country whose mobile numbers are known (seeds/mobile_phone_patterns.csv)
-- that are not mobiles: fixed lines, which a text cannot reach (a country without a pattern,
-- such as the US and Canada, where one plan holds both: any number may be texted)
fixed_lines as (

    select
        '^\+' || codes.calling_code::text as calling_code_pattern,
        mobile.pattern as mobile_pattern
    from {{ ref('mobile_phone_patterns') }} as mobile
    inner join {{ ref('country_calling_codes') }} as codes
        on mobile.country_code = codes.country_code

),

channel_costs as (

    select
        channel,
        cost_per_message,
        cost_rank
    from {{ ref('channel_costs') }}

),

erased_by_request as (

    select customers.customer_id
    from customers
    inner join erasures
        on
            customers.customer_id = erasures.customer_id
            or customers.email = erasures.email_normalized
            or customers.phone = erasures.phone_e164

),

erased_by_tombstone as (

    select customers.customer_id
    from customers
    inner join tombstones
        on
            {{ tombstone_sha256('email', 'customers.email') }} = tombstones.tombstone_sha256
            or {{ tombstone_sha256('phone', 'customers.phone') }} = tombstones.tombstone_sha256

),

erased as (

    select customer_id from erased_by_request
    union
    select customer_id from erased_by_tombstone

),

channels as (

    select
        customer_id,
        'email' as channel,
        email as contact_point,
        coalesce(is_email_consented, false) as is_consented
    from customers
    union all
    select
        customer_id,
        'sms' as channel,
        phone as contact_point,
        coalesce(is_sms_consented, false) as is_consented
    from customers
    union all
    select
        customer_id,
        'post' as channel,
        address_line || ', ' || postcode as contact_point,
        coalesce(is_post_consented, false) as is_consented
    from customers

),

flagged as (

    select
        channels.customer_id,
        channels.channel,
        channels.contact_point,
        case
            when erased.customer_id is not null then 'erased'
            when {{ var('suppress_open_complaints') }} and open_complaints.customer_id is not null
                then 'open_complaint'
            when channels.channel = 'email' and bounced_emails.email_normalized is not null
                then 'hard_bounced'
            when not channels.is_consented then 'not_consented'
            when channels.contact_point is null then 'no_contact_point'
            when
                channels.channel = 'sms'
                and exists (
                    select 1
                    from fixed_lines
                    where
                        channels.contact_point ~ fixed_lines.calling_code_pattern
                        and channels.contact_point !~ fixed_lines.mobile_pattern
                )
                then 'not_a_mobile'
        end as suppression_reason,
        channel_costs.cost_per_message,
        channel_costs.cost_rank,
        channels.is_consented
    from channels
    inner join channel_costs on channels.channel = channel_costs.channel
    left join erased on channels.customer_id = erased.customer_id
    left join open_complaints on channels.customer_id = open_complaints.customer_id
    left join bounced_emails
        on channels.channel = 'email' and channels.contact_point = bounced_emails.email_normalized

),

ranked as (

    select
        *,
        suppression_reason is null as is_reachable,
        case
            when suppression_reason is null
                then row_number() over (
                    partition by customer_id, suppression_reason is null order by cost_rank
                )
        end as reachable_rank
    from flagged

)

select * from ranked
