{{ config(
    materialized='incremental_batch',
    stages=['changed_customers'],
    replaces='changed_customers',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['customer_id'], 'unique': True},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_clustered') }}
-- depends_on: {{ ref('stg_shop__marketing_preferences') }}
-- depends_on: {{ ref('stg_esp__contacts') }}
-- depends_on: {{ ref('identifier_blocklist') }}

with

{% if is_incremental() %}

    -- staged by the materialisation (incremental_batch stage changed_customers)
    changed_customers as (

        select customer_id from pg_temp.changed_customers

    ),

{% endif %}

assignments as (

    select
        record_key,
        customer_id
    from {{ ref('int_customer_ids_assigned') }}
    {% if is_incremental() -%}
        where customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif %}

),

records as (

    select
        record_key,
        source_system,
        source_table,
        first_name_normalized,
        last_name_normalized,
        -- a placeholder (seeds/identifier_blocklist.csv) is nobody's contact point
        {{ without_junk('email_normalized', 'email') }} as email_normalized,
        {{ without_junk('phone_e164', 'phone') }} as phone_e164,
        address_normalized,
        postcode,
        birth_date,
        record_updated_at
    from {{ ref('int_identity_records_unioned') }}
    {% if is_incremental() -%}
        -- the changed customers' records: one index scan (= any(array))
        where record_key = any(array(select assignments.record_key from assignments))
    {%- endif %}

),

marketing_preferences as (

    select
        account_id,
        consent_channel,
        is_opted_in,
        updated_at
    from {{ ref('stg_shop__marketing_preferences') }}
    {% if is_incremental() -%}
        -- the changed customers' accounts only: one scan of the loader's key index
        where
            account_id = any(array(
                select substr(assignments.record_key, length('shop:accounts:') + 1)::bigint
                from assignments
                where assignments.record_key like 'shop:accounts:%'
            ))
    {%- endif %}

),

esp_contacts as (

    select
        contact_id,
        is_subscribed,
        updated_at
    from {{ ref('stg_esp__contacts') }}
    {% if is_incremental() -%}
        -- the changed customers' email contacts only (key index, as above)
        where
            contact_id = any(array(
                select substr(assignments.record_key, length('esp:contacts:') + 1)
                from assignments
                where assignments.record_key like 'esp:contacts:%'
            ))
    {%- endif %}

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
        {{ first_by_priority('first_name_normalized') }} as first_name,
        {{ first_by_priority('last_name_normalized') }} as last_name,
        {{ first_by_priority('email_normalized') }} as email,
        {{ first_by_priority('phone_e164') }} as phone,
        {{ first_by_priority('address_normalized') }} as address_line,
        {{ first_by_priority('postcode') }} as postcode,
        string_agg(distinct source_system, ', ' order by source_system) as source_systems,
        count(*) as source_record_count,
        mode() within group (order by birth_date) as birth_date,
        min(record_updated_at) as first_seen_at,
        max(record_updated_at) as last_seen_at
    from prioritised
    group by customer_id

),

-- consents of the customer's shop accounts and email contacts (their record keys are
-- <source>:<table>:<id>); read through the assignments, not identity_map, so this model and
-- identity_map build side by side
consent_statements as (

    select
        assignments.customer_id,
        marketing_preferences.consent_channel,
        marketing_preferences.is_opted_in,
        marketing_preferences.updated_at
    from marketing_preferences
    inner join assignments
        on 'shop:accounts:' || marketing_preferences.account_id = assignments.record_key

    union all

    select
        assignments.customer_id,
        'email' as consent_channel,
        esp_contacts.is_subscribed as is_opted_in,
        esp_contacts.updated_at
    from esp_contacts
    inner join assignments on 'esp:contacts:' || esp_contacts.contact_id = assignments.record_key

),

-- the latest statement per channel; two at the same instant that disagree: the opt-out
latest_consents as (

    select
        customer_id,
        (
            array_agg(is_opted_in order by updated_at desc, is_opted_in asc)
            filter (where consent_channel = 'email')
        )[1] as is_email_consented,
        (
            array_agg(is_opted_in order by updated_at desc, is_opted_in asc)
            filter (where consent_channel = 'sms')
        )[1] as is_sms_consented,
        (
            array_agg(is_opted_in order by updated_at desc, is_opted_in asc)
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
        golden.last_seen_at,
        current_timestamp as computed_at
    from golden
    left join latest_consents on golden.customer_id = latest_consents.customer_id

)

select * from final
