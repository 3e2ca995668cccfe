{{ config(
    materialized='incremental_batch',
    stages=['touched_records'],
    replaces='links_of_touched_records',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[
        {'columns': ['left_record_key']},
        {'columns': ['right_record_key']},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_touched') }}

{%- set identifier_types -%}
    ('{{ var("match_deterministic_identifiers") | join("', '") }}')
{%- endset %}

with

usable_identifiers as (

    select
        identifier_type,
        identifier_value,
        people_count
    from {{ ref('int_identifiers_assessed') }}
    where is_usable

),

{% if is_incremental() %}

    -- every pair with a touched side (pg_temp.touched_records, stage touched_records): touched
    -- left, or touched right and an untouched left; index joins on the identifier values
    touched_identifiers as materialized (

        select
            identifiers.record_key,
            identifiers.identifier_type,
            identifiers.identifier_value,
            usable_identifiers.people_count
        from pg_temp.touched_records as touched
        inner join {{ ref('int_identifiers_unpivoted') }} as identifiers
            on touched.record_key = identifiers.record_key
        inner join usable_identifiers
            on
                identifiers.identifier_type = usable_identifiers.identifier_type
                and identifiers.identifier_value = usable_identifiers.identifier_value
        where identifiers.is_current and identifiers.identifier_type in {{ identifier_types }}

    ),

    candidate_pairs as materialized (

        select
            least(touched_side.record_key, other_side.record_key) as left_record_key,
            greatest(touched_side.record_key, other_side.record_key) as right_record_key,
            touched_side.identifier_type,
            touched_side.identifier_value,
            touched_side.people_count
        from touched_identifiers as touched_side
        inner join {{ ref('int_identifiers_unpivoted') }} as other_side
            on
                touched_side.identifier_type = other_side.identifier_type
                and touched_side.identifier_value = other_side.identifier_value
                and touched_side.record_key <> other_side.record_key
        left join pg_temp.touched_records as other_touched
            on other_side.record_key = other_touched.record_key
        where
            other_side.is_current
            and (other_touched.record_key is null or touched_side.record_key < other_side.record_key)

    ),

{% else %}

    identifiers as (

        select
            record_key,
            identifier_type,
            identifier_value
        from {{ ref('int_identifiers_unpivoted') }}
        where is_current and identifier_type in {{ identifier_types }}

    ),

    candidate_pairs as materialized (

        select
            left_side.record_key as left_record_key,
            right_side.record_key as right_record_key,
            left_side.identifier_type,
            left_side.identifier_value,
            usable_identifiers.people_count
        from identifiers as left_side
        inner join usable_identifiers
            on
                left_side.identifier_type = usable_identifiers.identifier_type
                and left_side.identifier_value = usable_identifiers.identifier_value
        inner join identifiers as right_side
            on
                left_side.identifier_type = right_side.identifier_type
                and left_side.identifier_value = right_side.identifier_value
                and left_side.record_key < right_side.record_key

    ),

{% endif %}

named_pairs as materialized (

    select
        candidate_pairs.*,
        candidate_pairs.identifier_type in (
            '{{ var("match_unguarded_identifiers") | join("', '") }}'
        ) as is_unguarded,
        left_records.first_name_canonical as left_first_name,
        left_records.first_name_alternative as left_first_name_alternative,
        left_records.last_name_normalized as left_last_name,
        left_records.last_name_canonical as left_last_name_canonical,
        right_records.first_name_canonical as right_first_name,
        right_records.first_name_alternative as right_first_name_alternative,
        right_records.last_name_normalized as right_last_name,
        right_records.last_name_canonical as right_last_name_canonical,
        coalesce(left_records.birth_date <> right_records.birth_date, false)
            as is_birth_date_conflict,
        -- one email and two phones, or one fixed line (a family's) and two emails, and no
        -- birth date to vouch: namesakes of one household (a father and son on the family
        -- email or phone), each with their own contact
        (
            candidate_pairs.identifier_type = 'email'
            and coalesce(left_records.phone_e164 <> right_records.phone_e164, false)
            or candidate_pairs.identifier_type = 'phone'
            and not {{ is_mobile_phone('candidate_pairs.identifier_value') }}
            and coalesce(left_records.email_normalized <> right_records.email_normalized, false)
        )
        and not coalesce(left_records.birth_date = right_records.birth_date, false)
            as is_contact_conflict
    from candidate_pairs
    inner join {{ ref('int_identity_records_unioned') }} as left_records
        on candidate_pairs.left_record_key = left_records.record_key
    inner join {{ ref('int_identity_records_unioned') }} as right_records
        on candidate_pairs.right_record_key = right_records.record_key

),

-- names are only compared where the rule needs it: issued identifiers link without
scored_directly as materialized (

    select
        *,
        case
            when not is_unguarded
                then {{ target.schema }}.first_name_similarity(
                    left_first_name, left_first_name_alternative,
                    right_first_name, right_first_name_alternative,
                    {{ var('fuzzy_name_threshold') }}
                )
        end as first_name_similarity,
        case
            when not is_unguarded
                then {{ target.schema }}.name_similarity(
                    left_last_name, right_last_name, {{ var('fuzzy_name_threshold') }}
                )
        end as last_name_similarity
    from named_pairs

),

agreed_directly as materialized (

    select
        *,
        -- a missing first name agrees, unless the identifier is held by two people (a couple's
        -- email): then it cannot say whose the record is
        {{ names_agree(
            'left_first_name', 'right_first_name',
            similarity='coalesce(first_name_similarity, case when people_count > 1 then 0 else 1 end)'
        ) }}
        or {{ target.schema }}.is_one_slip_apart(left_first_name_alternative, right_first_name)
        or {{ target.schema }}.is_one_slip_apart(left_first_name, right_first_name_alternative)
            as is_first_name_agreed,
        {{ names_agree(
            'left_last_name', 'right_last_name', similarity='coalesce(last_name_similarity, 1)'
        ) }} as is_last_name_agreed
    from scored_directly

),

-- ... and swapped first / last names are only tried where the direct comparison failed
scored as materialized (

    select
        *,
        not is_unguarded
        and not (is_first_name_agreed and is_last_name_agreed)
        and {{ names_agree('left_first_name', 'right_last_name_canonical') }}
        and {{ names_agree('left_last_name_canonical', 'right_first_name') }}
            as is_swapped_name_agreed
    from agreed_directly

),

links as (

    select
        left_record_key,
        right_record_key,
        identifier_type,
        identifier_value,
        'same_' || identifier_type as match_rule,
        identifier_type || '=' || identifier_value as evidence,
        case
            when is_unguarded then 1.0
            else coalesce(least(first_name_similarity, last_name_similarity), 0.95)
        end::numeric(6, 4) as match_score,
        current_timestamp as computed_at
    from scored
    where
        is_unguarded
        or (
            not is_birth_date_conflict
            and not is_contact_conflict
            and (
                (is_first_name_agreed and is_last_name_agreed)
                or is_swapped_name_agreed
            )
        )

)

select * from links
