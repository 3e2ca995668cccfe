{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
) }}

with

records as (

    select
        {{ comparison_record_columns() }}
    from {{ ref('int_identity_records_unioned') }}
    where
        first_name_normalized is not null
        or last_name_normalized is not null
        or birth_date is not null

),

-- the records in a random order (by a hash of the key)
numbered as materialized (

    select
        *,
        row_number() over (order by md5(record_key)) - 1 as record_number,
        count(*) over () as record_count
    from records

),

-- record i pairs with records i + 1, i + 2, ... in that order, as many rounds as the sample
-- needs: every pair is drawn once, and a small warehouse gets its
-- var('match_u_sample_pairs') pairs too (rare agreements, such as one email, need them: a u
-- read from a few thousand pairs cannot go below about 1 / 10,000)
shifts as (

    select
        generate_series(
            1, least(ceil({{ var('match_u_sample_pairs') }}::numeric / count(*)), count(*) - 1)::integer
        ) as shift
    from records

),

pair_numbers as (

    select
        numbered.record_number as left_number,
        (numbered.record_number + shifts.shift) % numbered.record_count as right_number
    from numbered
    cross join shifts
    order by shifts.shift, numbered.record_number
    limit {{ var('match_u_sample_pairs') }}

),

-- each pair's values and edit distances (computed once here: offset 0 keeps the planner from
-- copying them into every level that reads them)
paired as (

    select
        left_records.record_key as left_record_key,
        right_records.record_key as right_record_key,
        {{ comparison_pair_columns('left_records', 'right_records') }},
        {{ comparison_edits('left_records.', 'right_records.') }}
    from pair_numbers
    inner join numbered as left_records on pair_numbers.left_number = left_records.record_number
    inner join numbered as right_records on pair_numbers.right_number = right_records.record_number
    offset 0  -- noqa: AM09

),

compared as (

    select
        paired.left_record_key,
        paired.right_record_key,
        {{ comparison_levels('paired.left_', 'paired.right_', 'paired.') }},
        current_timestamp as computed_at
    from paired

)

select * from compared
{% if is_incremental() -%}
    where false
{%- endif %}
