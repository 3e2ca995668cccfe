{#- Random pairs of person records with their comparison levels: almost all are two different
    people, so the share of each level among them is its u probability (how often two
    different people agree that far by chance). var('match_u_sample_pairs') pairs, drawn by a
    hash of the record key (the same records give the same sample). Built on the first build
    and when the match-model fit draws a new sample (`ciw match --refit` runs it with
    --full-refresh); other runs leave it as it is. -#}
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

left_sample as (

    select
        *,
        row_number() over (order by md5('left:' || record_key)) as pair_number
    from records
    order by pair_number
    limit {{ var('match_u_sample_pairs') }}

),

right_sample as (

    select
        *,
        row_number() over (order by md5('right:' || record_key)) as pair_number
    from records
    order by pair_number
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
    from left_sample as left_records
    inner join right_sample as right_records
        on left_records.pair_number = right_records.pair_number
    where left_records.record_key <> right_records.record_key
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
