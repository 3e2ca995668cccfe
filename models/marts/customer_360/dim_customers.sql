{#- Public: the golden record of every customer. Survivorship: each attribute comes from the
    highest-priority source that has it (var('survivorship_source_priority')), the most recent
    record first within a source; date of birth is the most frequent value; consent per channel
    is the latest statement across the shop's marketing preferences and the email service
    provider (an unsubscribe or bounce there withdraws email consent). -#}
with

records as (

    select
        record_key,
        source_system,
        source_table,
        first_name_normalized,
        last_name_normalized,
        email_normalized,
        phone_e164,
        address_normalized,
        postcode,
        birth_date,
        record_updated_at
    from {{ ref('int_identity_records_unioned') }}

),

assignments as (

    select
        record_key,
        customer_id
    from {{ ref('int_customer_ids_assigned') }}

),

identity_map as (

    select
        source_system,
        source_table,
        source_record_id,
        customer_id
    from {{ ref('identity_map') }}

),

marketing_preferences as (

    select
        account_id,
        consent_channel,
        is_opted_in,
        updated_at
    from {{ ref('stg_shop__marketing_preferences') }}

),

esp_contacts as (

    select
        contact_id,
        is_subscribed,
        updated_at
    from {{ ref('stg_esp__contacts') }}

),

source_priorities as (

    select *
    from (
        values
        {%- for source, priority in var('survivorship_source_priority').items() %}
            ('{{ source }}', {{ priority }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as priorities (source_key, source_priority)

),

prioritised as (

    select
        assignments.customer_id,
        records.*,
        coalesce(source_priorities.source_priority, 99) as source_priority
    from records
    inner join assignments on records.record_key = assignments.record_key
    left join source_priorities
        on records.source_system || '_' || records.source_table = source_priorities.source_key

),

golden as (

    select
        customer_id,
        (
            array_agg(first_name_normalized order by source_priority asc, record_updated_at desc)
            filter (where first_name_normalized is not null)
        )[1] as first_name,
        (
            array_agg(last_name_normalized order by source_priority asc, record_updated_at desc)
            filter (where last_name_normalized is not null)
        )[1] as last_name,
        (
            array_agg(email_normalized order by source_priority asc, record_updated_at desc)
            filter (where email_normalized is not null)
        )[1] as email,
        (
            array_agg(phone_e164 order by source_priority asc, record_updated_at desc)
            filter (where phone_e164 is not null)
        )[1] as phone,
        (
            array_agg(address_normalized order by source_priority asc, record_updated_at desc)
            filter (where address_normalized is not null)
        )[1] as address_line,
        (
            array_agg(postcode order by source_priority asc, record_updated_at desc)
            filter (where postcode is not null)
        )[1] as postcode,
        string_agg(distinct source_system, ', ' order by source_system) as source_systems,
        count(*) as source_record_count,
        mode() within group (order by birth_date) as birth_date,
        min(record_updated_at) as first_seen_at,
        max(record_updated_at) as last_seen_at
    from prioritised
    group by customer_id

),

consent_statements as (

    select
        identity_map.customer_id,
        marketing_preferences.consent_channel,
        marketing_preferences.is_opted_in,
        marketing_preferences.updated_at
    from marketing_preferences
    inner join identity_map
        on
            identity_map.source_system = 'shop'
            and identity_map.source_table = 'accounts'
            and marketing_preferences.account_id::text = identity_map.source_record_id

    union all

    select
        identity_map.customer_id,
        'email' as consent_channel,
        esp_contacts.is_subscribed as is_opted_in,
        esp_contacts.updated_at
    from esp_contacts
    inner join identity_map
        on
            identity_map.source_system = 'esp'
            and identity_map.source_table = 'contacts'
            and esp_contacts.contact_id = identity_map.source_record_id

),

latest_consents as (

    select
        customer_id,
        (
            array_agg(is_opted_in order by updated_at desc)
            filter (where consent_channel = 'email')
        )[1] as is_email_consented,
        (
            array_agg(is_opted_in order by updated_at desc)
            filter (where consent_channel = 'sms')
        )[1] as is_sms_consented,
        (
            array_agg(is_opted_in order by updated_at desc)
            filter (where consent_channel = 'post')
        )[1] as is_post_consented
    from consent_statements
    group by customer_id

),

final as (

    select
        golden.customer_id,
        initcap(golden.first_name) as first_name,
        initcap(golden.last_name) as last_name,
        golden.email,
        golden.phone,
        golden.address_line,
        golden.postcode,
        golden.source_systems,
        golden.source_record_count,
        coalesce(latest_consents.is_email_consented, false) as is_email_consented,
        coalesce(latest_consents.is_sms_consented, false) as is_sms_consented,
        coalesce(latest_consents.is_post_consented, false) as is_post_consented,
        golden.birth_date,
        golden.first_seen_at,
        golden.last_seen_at
    from golden
    left join latest_consents on golden.customer_id = latest_consents.customer_id

)

select * from final
