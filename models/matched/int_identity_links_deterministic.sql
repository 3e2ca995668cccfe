{#- Pairs of records sharing a strong identifier. Issued identifiers (account, loyalty card:
    var('match_unguarded_identifiers')) link outright; shared-able ones (email, phone, card)
    link only when first and last names are compatible, and never through an identifier held
    by more than var('max_people_per_identifier') distinct first names (families, shop phones). -#}
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
        last_name_canonical
    from {{ ref('int_identity_records_unioned') }}

),

identifier_spread as (

    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        count(*) as record_count,
        count(distinct records.first_name_canonical) as first_name_count
    from identifiers
    inner join records on identifiers.record_key = records.record_key
    group by identifiers.identifier_type, identifiers.identifier_value

),

usable_identifiers as (

    select
        identifier_type,
        identifier_value
    from identifier_spread
    where
        record_count between 2 and {{ var('max_records_per_customer') }}
        and (
            identifier_type in ('{{ var("match_unguarded_identifiers") | join("', '") }}')
            or first_name_count <= {{ var('max_people_per_identifier') }}
        )

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
        right_records.last_name_canonical as right_last_name_canonical
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

-- ... and swapped first / last names are only tried where the direct comparison failed
scored as materialized (

    select
        *,
        case
            when
                not is_unguarded
                and (
                    coalesce(first_name_similarity, 1) < {{ var('fuzzy_name_threshold') }}
                    or coalesce(last_name_similarity, 1) < {{ var('fuzzy_name_threshold') }}
                )
                then least(
                    {{ target.schema }}.name_similarity(left_first_name, right_last_name_canonical),
                    {{ target.schema }}.name_similarity(left_last_name_canonical, right_first_name)
                )
        end as swapped_name_similarity
    from scored_directly

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
            coalesce(first_name_similarity, 1) >= {{ var('fuzzy_name_threshold') }}
            and coalesce(last_name_similarity, 1) >= {{ var('fuzzy_name_threshold') }}
        )
        or swapped_name_similarity >= {{ var('fuzzy_name_threshold') }}

),

best_per_pair as (

    select distinct on (left_record_key, right_record_key) *
    from links
    order by left_record_key asc, right_record_key asc, match_score desc, match_rule asc

)

select * from best_per_pair
