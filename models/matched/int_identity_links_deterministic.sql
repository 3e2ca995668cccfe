{#- Pairs of records sharing a strong identifier. Issued identifiers (account, loyalty card:
    var('match_unguarded_identifiers')) link outright; shared-able ones (email, phone, card)
    link only when first and last names agree (similar, one keystroke apart, or swapped), and
    never through an identifier held by more than var('max_people_per_identifier') different
    people (families, shop phones). People, not spellings, are counted: "christopher",
    "chistopher" and "chris" on one email are one person. Birth dates veto: two records with
    different birth dates never link through a shared-able identifier, and an identifier held
    by namesakes of different birth dates (a father and son) links nobody. -#}
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

-- identifiers carrying more first-name spellings than the limit allows: are they typos,
-- nicknames and swapped names of fewer people, or really that many people?
crowded_identifier_names as materialized (

    select
        identifier_spread.identifier_type,
        identifier_spread.identifier_value,
        records.first_name_canonical,
        records.first_name_alternative,
        records.last_name_canonical,
        row_number() over (
            partition by identifier_spread.identifier_type, identifier_spread.identifier_value
            order by count(*) desc, records.first_name_canonical, records.last_name_canonical asc
        ) as name_rank
    from identifier_spread
    inner join identifiers
        on
            identifier_spread.identifier_type = identifiers.identifier_type
            and identifier_spread.identifier_value = identifiers.identifier_value
    inner join records on identifiers.record_key = records.record_key
    where
        identifier_spread.first_name_count > {{ var('max_people_per_identifier') }}
        and identifier_spread.record_count between 2 and {{ var('max_records_per_customer') }}
        and records.first_name_canonical is not null
    group by
        identifier_spread.identifier_type,
        identifier_spread.identifier_value,
        records.first_name_canonical,
        records.first_name_alternative,
        records.last_name_canonical

),

-- a spelling is another person unless it agrees with a commoner spelling on the identifier
crowded_identifier_people as (

    select
        spelling.identifier_type,
        spelling.identifier_value,
        count(*) as people_count
    from crowded_identifier_names as spelling
    where
        not exists (
            select 1
            from crowded_identifier_names as commoner
            where
                commoner.identifier_type = spelling.identifier_type
                and commoner.identifier_value = spelling.identifier_value
                and commoner.name_rank < spelling.name_rank
                and (
                    {{ target.schema }}.first_name_similarity(
                        commoner.first_name_canonical, commoner.first_name_alternative,
                        spelling.first_name_canonical, spelling.first_name_alternative
                    ) >= {{ var('fuzzy_name_threshold') }}
                    or {{ target.schema }}.is_one_slip_apart(
                        commoner.first_name_canonical, spelling.first_name_canonical
                    )
                    or (
                        {{ target.schema }}.name_similarity(
                            spelling.first_name_canonical, commoner.last_name_canonical
                        ) >= {{ var('fuzzy_name_threshold') }}
                        and {{ target.schema }}.name_similarity(
                            spelling.last_name_canonical, commoner.first_name_canonical
                        ) >= {{ var('fuzzy_name_threshold') }}
                    )
                )
        )
    group by spelling.identifier_type, spelling.identifier_value

),

-- one identifier, one first name, two birth dates: namesakes share it, and it cannot tell
-- which of them a record without a birth date belongs to
namesakes_on_identifier as (

    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        records.first_name_canonical
    from identifiers
    inner join records on identifiers.record_key = records.record_key
    where records.birth_date is not null
    group by
        identifiers.identifier_type,
        identifiers.identifier_value,
        records.first_name_canonical
    having count(distinct records.birth_date) > 1

),

namesake_identifiers as (

    select distinct
        identifier_type,
        identifier_value
    from namesakes_on_identifier

),

usable_identifiers as (

    select
        identifier_spread.identifier_type,
        identifier_spread.identifier_value
    from identifier_spread
    left join crowded_identifier_people
        on
            identifier_spread.identifier_type = crowded_identifier_people.identifier_type
            and identifier_spread.identifier_value = crowded_identifier_people.identifier_value
    left join namesake_identifiers
        on
            identifier_spread.identifier_type = namesake_identifiers.identifier_type
            and identifier_spread.identifier_value = namesake_identifiers.identifier_value
    where
        identifier_spread.record_count between 2 and {{ var('max_records_per_customer') }}
        and (
            identifier_spread.identifier_type
            in ('{{ var("match_unguarded_identifiers") | join("', '") }}')
            or (
                coalesce(
                    crowded_identifier_people.people_count, identifier_spread.first_name_count
                ) <= {{ var('max_people_per_identifier') }}
                and namesake_identifiers.identifier_value is null
            )
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
        coalesce(first_name_similarity, 1) >= {{ var('fuzzy_name_threshold') }}
        or {{ target.schema }}.is_one_slip_apart(left_first_name, right_first_name)
        or {{ target.schema }}.is_one_slip_apart(left_first_name_alternative, right_first_name)
        or {{ target.schema }}.is_one_slip_apart(left_first_name, right_first_name_alternative)
            as is_first_name_agreed,
        coalesce(last_name_similarity, 1) >= {{ var('fuzzy_name_threshold') }}
        or {{ target.schema }}.is_one_slip_apart(left_last_name, right_last_name)
            as is_last_name_agreed
    from scored_directly

),

-- ... and swapped first / last names are only tried where the direct comparison failed
scored as materialized (

    select
        *,
        not is_unguarded
        and not (is_first_name_agreed and is_last_name_agreed)
        and (
            {{ target.schema }}.name_similarity(left_first_name, right_last_name_canonical)
            >= {{ var('fuzzy_name_threshold') }}
            or {{ target.schema }}.is_one_slip_apart(left_first_name, right_last_name_canonical)
        )
        and (
            {{ target.schema }}.name_similarity(left_last_name_canonical, right_first_name)
            >= {{ var('fuzzy_name_threshold') }}
            or {{ target.schema }}.is_one_slip_apart(left_last_name_canonical, right_first_name)
        ) as is_swapped_name_agreed
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
