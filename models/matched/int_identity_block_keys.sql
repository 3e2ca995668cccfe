{{ config(
    materialized='incremental',
    unique_key=['record_key', 'block_key'],
    incremental_strategy='delete_insert_by_record',
    on_schema_change='fail',
    indexes=[
        {'columns': ['block_key']},
        {'columns': ['record_key', 'block_key'], 'unique': True},
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

-- each record's keys in one pass, an array unnested (a join of the records to their name
-- prefixes per rule cost four times the CPU at 200,000 records; a lateral list of values
-- three times). A name's first three letters, of either name: a typo later in a name, or
-- first and last name swapped, keeps the key (both records emit a key for each of their
-- names); its first letter where an email or phone, which a family shares, is the rest of the
-- key. A key whose parts are missing is null (|| of a null) and left out; the last name's
-- prefix or initial is null where the first name's is the same, so each rule gives a record
-- a key at most once
named as (

    select
        *,
        left(first_name_normalized, 3) as first_prefix,
        nullif(left(last_name_normalized, 3), left(first_name_normalized, 3)) as last_prefix,
        left(first_name_normalized, 1) as first_initial,
        nullif(left(last_name_normalized, 1), left(first_name_normalized, 1)) as last_initial,
        replace(town_normalized, ' ', '') as town_key
    from records

),

every_key as (

    select
        record_key,
        unnest(array[
            'dob_postcode:' || birth_date || ':' || postcode,
            'dob_name:' || birth_date || ':' || first_prefix,
            'dob_name:' || birth_date || ':' || last_prefix,
            'address:' || postcode || ':' || address_normalized,
            'postcode_name:' || postcode || ':' || first_prefix,
            'postcode_name:' || postcode || ':' || last_prefix,
            -- the same street and number in a town mistyped or missing, or under another
            -- postcode: in the same town, or in the same postcode area (a country has many
            -- "12 high st")
            'street_name:' || street_normalized || ':' || house_number || ':' || first_prefix
            || ':town:' || town_key,
            'street_name:' || street_normalized || ':' || house_number || ':' || last_prefix
            || ':town:' || town_key,
            'street_name:' || street_normalized || ':' || house_number || ':' || first_prefix
            || ':area:' || left(postcode, 2),
            'street_name:' || street_normalized || ':' || house_number || ':' || last_prefix
            || ':area:' || left(postcode, 2),
            -- address line 2 (a building, a locality) with its house number: with a name
            -- replaced or the street mistyped
            'locality_name:' || locality_normalized || ':' || house_number || ':' || first_prefix,
            'locality_name:' || locality_normalized || ':' || house_number || ':' || last_prefix,
            -- both names in one town (spaces ignored: "lake clifton", "lakeclifton") and the
            -- same house number or street prefix: a mistyped postcode and birth date. Not the
            -- town and names alone: a city's namesakes grow with its square
            'name_town:' || town_key || ':' || first_name_normalized || ':'
            || left(last_name_normalized, 3) || ':house:' || house_number,
            'name_town:' || town_key || ':' || first_name_normalized || ':'
            || left(last_name_normalized, 3) || ':street:' || left(street_normalized, 3),
            -- one email or phone and an initial: the records of one person whose names the
            -- deterministic rules cannot agree on (a replaced or mistyped name), and of a
            -- family
            'email:' || email_normalized || ':' || first_initial,
            'email:' || email_normalized || ':' || last_initial,
            'phone:' || phone_e164 || ':' || first_initial,
            'phone:' || phone_e164 || ':' || last_initial,
            -- a record without a first name meets the others without one by surname, town
            -- and the street's initial
            case
                when first_name_normalized is null
                    then
                        'surname_town:' || town_key || ':' || last_name_normalized || ':'
                        || left(street_normalized, 1)
            end
        ]) as block_key
    from named

),

block_keys as (

    select
        record_key,
        block_key
    from every_key
    where block_key is not null

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
