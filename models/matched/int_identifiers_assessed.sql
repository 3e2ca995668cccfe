{{ config(
    materialized='incremental_batch',
    stages=['changed_identifier_values'],
    replaces='assessments_of_vanished_values',
    watermark='assessed_at',
    unique_key=['identifier_type', 'identifier_value'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
        {'columns': ['identifier_type', 'identifier_value'], 'unique': True},
        {'columns': ['usability_flipped_at']},
        {'columns': ['assessed_at']},
    ],
) }}

with

held as materialized (

    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        identifiers.record_key,
        records.first_name_canonical,
        records.first_name_alternative,
        records.last_name_canonical,
        records.birth_date,
        records.phone_e164
    {% if is_incremental() -%}
        -- the holders of each changed value by a lookup in the index on (identifier_type,
        -- identifier_value): joined (or in a lateral subquery it may flatten: offset 0 keeps
        -- it whole), the planner hashes the changed values and scans all seven million
        -- identifiers of a million persons (2-3 s against 0.7 s)
        from pg_temp.changed_identifier_values as changed_values
        cross join lateral (
            select
                unpivoted.identifier_type,
                unpivoted.identifier_value,
                unpivoted.record_key,
                unpivoted.is_current
            from {{ ref('int_identifiers_unpivoted') }} as unpivoted
            where
                unpivoted.identifier_type = changed_values.identifier_type
                and unpivoted.identifier_value = changed_values.identifier_value
            offset 0
        ) as identifiers
    {% else -%}
        from {{ ref('int_identifiers_unpivoted') }} as identifiers
    {% endif -%}
    inner join {{ ref('int_identity_records_unioned') }} as records
        on identifiers.record_key = records.record_key
    where
        identifiers.is_current
        and identifiers.identifier_type
        in ('{{ var("match_deterministic_identifiers") | join("', '") }}')

),

spread as materialized (

    select
        identifier_type,
        identifier_value,
        count(*) as record_count,
        count(distinct first_name_canonical) as first_name_count,
        count(distinct birth_date) as birth_date_count
    from held
    group by identifier_type, identifier_value
    having count(*) >= 2

),

-- identifiers carrying more first-name spellings than the limit allows: are they typos,
-- nicknames and swapped names of fewer people, or really that many people?
crowded_names as materialized (

    select
        held.identifier_type,
        held.identifier_value,
        held.first_name_canonical,
        held.first_name_alternative,
        held.last_name_canonical,
        row_number() over (
            partition by held.identifier_type, held.identifier_value
            order by count(*) desc, held.first_name_canonical asc, held.last_name_canonical asc
        ) as name_rank
    from spread
    inner join held
        on
            spread.identifier_type = held.identifier_type
            and spread.identifier_value = held.identifier_value
    where
        spread.first_name_count > {{ var('max_people_per_identifier') }}
        and spread.record_count <= {{ var('max_records_per_customer') }}
        and held.first_name_canonical is not null
    group by
        held.identifier_type,
        held.identifier_value,
        held.first_name_canonical,
        held.first_name_alternative,
        held.last_name_canonical

),

-- a spelling is another person unless it agrees with a commoner spelling on the identifier
crowded_people as (

    select
        spelling.identifier_type,
        spelling.identifier_value,
        count(*) as people_count
    from crowded_names as spelling
    where
        not exists (
            select 1
            from crowded_names as commoner
            where
                commoner.identifier_type = spelling.identifier_type
                and commoner.identifier_value = spelling.identifier_value
                and commoner.name_rank < spelling.name_rank
                and (
                    {{ names_agree(
                        'commoner.first_name_canonical', 'spelling.first_name_canonical',
                        similarity=target.schema ~ '.first_name_similarity('
                            ~ 'commoner.first_name_canonical, commoner.first_name_alternative, '
                            ~ 'spelling.first_name_canonical, spelling.first_name_alternative, '
                            ~ var('fuzzy_name_threshold') ~ ')'
                    ) }}
                    or (
                        {{ target.schema }}.name_similarity(
                            spelling.first_name_canonical, commoner.last_name_canonical,
                            {{ var('fuzzy_name_threshold') }}
                        ) >= {{ var('fuzzy_name_threshold') }}
                        and {{ target.schema }}.name_similarity(
                            spelling.last_name_canonical, commoner.first_name_canonical,
                            {{ var('fuzzy_name_threshold') }}
                        ) >= {{ var('fuzzy_name_threshold') }}
                    )
                )
        )
    group by spelling.identifier_type, spelling.identifier_value

),

-- one identifier, one first name, two birth dates (or, on an email, two phone numbers when
-- var('match_email_namesakes_by_phone')): namesakes share it
namesakes as (

    select
        identifier_type,
        identifier_value,
        first_name_canonical
    from held
    where first_name_canonical is not null
    group by identifier_type, identifier_value, first_name_canonical
    having
        count(distinct birth_date) > 1
        or (
            {{ 'true' if var('match_email_namesakes_by_phone') else 'false' }}
            and identifier_type = 'email'
            and count(distinct phone_e164) > 1
        )

),

namesake_identifiers as (

    select distinct
        identifier_type,
        identifier_value
    from namesakes

),

assessed as (

    select
        spread.identifier_type,
        spread.identifier_value,
        spread.record_count,
        spread.first_name_count,
        -- two birth dates are two people, named or not (a nameless holder of a family email)
        greatest(
            coalesce(crowded_people.people_count, spread.first_name_count), spread.birth_date_count
        ) as people_count,
        namesake_identifiers.identifier_value is not null as is_held_by_namesakes,
        spread.identifier_type
        in ('{{ var("match_unguarded_identifiers") | join("', '") }}') as is_issued
    from spread
    left join crowded_people
        on
            spread.identifier_type = crowded_people.identifier_type
            and spread.identifier_value = crowded_people.identifier_value
    left join namesake_identifiers
        on
            spread.identifier_type = namesake_identifiers.identifier_type
            and spread.identifier_value = namesake_identifiers.identifier_value

),

judged as (

    select
        *,
        case
            when record_count > {{ var('max_records_per_customer') }} then 'too_many_records'
            when is_issued then null
            when people_count > {{ var('max_people_per_identifier') }}
                then 'shared_by_several_people'
            when is_held_by_namesakes then 'held_by_namesakes'
        end as unusable_reason
    from assessed

),

{% if is_incremental() %}

    final as (

        select
            judged.*,
            judged.unusable_reason is null as is_usable,
            current_timestamp as assessed_at,
            case
                when previous.is_usable is distinct from (judged.unusable_reason is null)
                    and previous.identifier_value is not null
                    then current_timestamp
                else previous.usability_flipped_at
            end as usability_flipped_at
        from judged
        left join {{ this }} as previous
            on
                judged.identifier_type = previous.identifier_type
                and judged.identifier_value = previous.identifier_value

    )

{% else %}

    final as (

        select
            *,
            unusable_reason is null as is_usable,
            current_timestamp as assessed_at,
            null::timestamptz as usability_flipped_at
        from judged

    )

{% endif %}

select * from final
