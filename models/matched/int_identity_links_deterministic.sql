{#- Pairs of records sharing a strong identifier the identifier may link
    (int_identifiers_assessed: issued ones such as account and loyalty card outright; shareable
    ones unless several people or namesakes hold them). Shareable identifiers link two records
    only when first and last names agree (similar, one keystroke apart, or swapped) and their
    birth dates do not differ. -#}
with

identifiers as (

    select
        record_key,
        identifier_type,
        identifier_value
    from {{ ref('int_identifiers_unpivoted') }}
    where identifier_type in ('{{ var("match_deterministic_identifiers") | join("', '") }}')

),

records as (

    select
        record_key,
        first_name_canonical,
        first_name_alternative,
        last_name_normalized,
        last_name_canonical,
        birth_date
    from {{ ref('int_identity_records_unioned') }}

),

usable_identifiers as (

    select
        identifier_type,
        identifier_value
    from {{ ref('int_identifiers_assessed') }}
    where is_usable

),

candidate_pairs as materialized (

    select
        left_side.record_key as left_record_key,
        right_side.record_key as right_record_key,
        left_side.identifier_type,
        left_side.identifier_value
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
            as is_birth_date_conflict
    from candidate_pairs
    inner join records as left_records
        on candidate_pairs.left_record_key = left_records.record_key
    inner join records as right_records
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
                    right_first_name, right_first_name_alternative
                )
        end as first_name_similarity,
        case
            when not is_unguarded
                then {{ target.schema }}.name_similarity(left_last_name, right_last_name)
        end as last_name_similarity
    from named_pairs

),

agreed_directly as materialized (

    select
        *,
        {{ names_agree(
            'left_first_name', 'right_first_name',
            similarity='coalesce(first_name_similarity, 1)'
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
        'same_' || identifier_type as match_rule,
        identifier_type || '=' || identifier_value as evidence,
        case
            when is_unguarded then 1.0
            else coalesce(least(first_name_similarity, last_name_similarity), 0.95)
        end::numeric(6, 4) as match_score
    from scored
    where
        is_unguarded
        or (
            not is_birth_date_conflict
            and (
                (is_first_name_agreed and is_last_name_agreed)
                or is_swapped_name_agreed
            )
        )

),

best_per_pair as (

    select distinct on (left_record_key, right_record_key) *
    from links
    order by left_record_key asc, right_record_key asc, match_score desc, match_rule asc

)

select * from best_per_pair
