{#- The blocking keys of probabilistic matching, one row per (record, key): only records
    sharing a key are compared, so the cost grows near-linearly. Several rules, OR'd, so that a
    record missing its name, birth date or postcode, or with a typo in one of them, still
    meets its duplicates through another rule (the rule is the key's prefix):
    birth date + postcode, birth date + a name's first three letters, postcode + address,
    postcode + a name's first three letters, street + house number + a name's prefix,
    locality (address line 2) + a name's prefix, town + first name + last name prefix, email
    or phone + either name's initial (junk values of seeds/identifier_blocklist.csv left out),
    and (for records without a first name) town + surname.
    Incremental like int_identifiers_unpivoted: the keys of records whose identity changed are
    written again, and a key a record lost stays as a tombstone (is_current = false), so
    int_identity_records_touched sees whose household (address block) changed. -#}
{{ config(
    materialized='incremental',
    unique_key=['record_key', 'block_key'],
    incremental_strategy='delete_insert_by_record',
    on_schema_change='fail',
    indexes=[
        {'columns': ['block_key']},
        {'columns': ['record_key']},
        {'columns': ['changed_at']},
    ],
) }}

with

records as (

    select
        record_key,
        first_name_normalized,
        last_name_normalized,
        address_normalized,
        house_number,
        street_normalized,
        locality_normalized,
        town_normalized,
        postcode,
        birth_date,
        {{ without_junk('email_normalized', 'email') }} as email_normalized,
        {{ without_junk('phone_e164', 'phone') }} as phone_e164
    from {{ ref('int_identity_records_unioned') }}
    {% if is_incremental() -%}
        where identity_changed_at > {{ matching_watermark('changed_at') }}
    {%- endif %}

),

-- the first three letters of either name: a typo later in a name, or first and last name
-- swapped, keeps the key (both records emit a key for each of their names)
name_prefixes as (

    select
        record_key,
        left(first_name_normalized, 3) as name_prefix
    from records
    where first_name_normalized is not null

    union

    select
        record_key,
        left(last_name_normalized, 3) as name_prefix
    from records
    where last_name_normalized is not null

),

-- the first letter of either name: an email or phone shared by a family holds few initials
name_initials as (

    select distinct
        record_key,
        left(name_prefix, 1) as name_initial
    from name_prefixes

),

-- union all: each rule gives a record a key at most once, and the rules' prefixes differ
block_keys as (

    select
        record_key,
        'dob_postcode:' || birth_date || ':' || postcode as block_key
    from records
    where birth_date is not null and postcode is not null

    union all

    select
        records.record_key,
        'dob_name:' || records.birth_date || ':' || name_prefixes.name_prefix as block_key
    from records
    inner join name_prefixes on records.record_key = name_prefixes.record_key
    where records.birth_date is not null

    union all

    select
        record_key,
        'address:' || postcode || ':' || address_normalized as block_key
    from records
    where postcode is not null and address_normalized is not null

    union all

    select
        records.record_key,
        'postcode_name:' || records.postcode || ':' || name_prefixes.name_prefix as block_key
    from records
    inner join name_prefixes on records.record_key = name_prefixes.record_key
    where records.postcode is not null

    union all

    -- the same street and number in a town mistyped or missing, or under another postcode
    select
        records.record_key,
        'street_name:' || records.street_normalized || ':' || records.house_number || ':'
        || name_prefixes.name_prefix as block_key
    from records
    inner join name_prefixes on records.record_key = name_prefixes.record_key
    where records.street_normalized is not null and records.house_number is not null

    union all

    select
        records.record_key,
        'locality_name:' || records.locality_normalized || ':' || name_prefixes.name_prefix
            as block_key
    from records
    inner join name_prefixes on records.record_key = name_prefixes.record_key
    where records.locality_normalized is not null

    union all

    -- both names in one town (spaces ignored: "lake clifton", "lakeclifton"): a moved
    -- person, a mistyped postcode and no birth date
    select
        record_key,
        'name_town:' || replace(town_normalized, ' ', '') || ':' || first_name_normalized || ':'
        || left(last_name_normalized, 3) as block_key
    from records
    where
        town_normalized is not null
        and first_name_normalized is not null
        and last_name_normalized is not null

    union all

    -- one email or phone and an initial: the records of one person whose names the
    -- deterministic rules cannot agree on (a replaced or mistyped name), and of a family
    select
        records.record_key,
        'email:' || records.email_normalized || ':' || name_initials.name_initial as block_key
    from records
    inner join name_initials on records.record_key = name_initials.record_key
    where records.email_normalized is not null

    union all

    select
        records.record_key,
        'phone:' || records.phone_e164 || ':' || name_initials.name_initial as block_key
    from records
    inner join name_initials on records.record_key = name_initials.record_key
    where records.phone_e164 is not null

    union all

    -- a record without a first name meets the others without one by surname and town
    select
        record_key,
        'surname_town:' || replace(town_normalized, ' ', '') || ':' || last_name_normalized
            as block_key
    from records
    where
        town_normalized is not null
        and first_name_normalized is null
        and last_name_normalized is not null

),

current_keys as (

    select
        record_key,
        block_key,
        true as is_current
    from block_keys

),

{% if is_incremental() %}

    dropped as (

        select
            previous.record_key,
            previous.block_key,
            false as is_current
        from {{ this }} as previous
        inner join records on previous.record_key = records.record_key
        left join current_keys
            on
                previous.record_key = current_keys.record_key
                and previous.block_key = current_keys.block_key
        where previous.is_current and current_keys.record_key is null

    ),

    final as (

        select * from current_keys
        union all
        select * from dropped

    )

{% else %}

    final as (

        select * from current_keys

    )

{% endif %}

select
    *,
    current_timestamp as changed_at
from final
