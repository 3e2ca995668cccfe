{{ config(
    materialized='incremental_batch',
    stages=['touched_records', 'full_build_pairs'],
    replaces='links_of_touched_records',
    post_hook="{{ drop_full_build_pairs() }}",
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[
        {'columns': ['left_record_key']},
        {'columns': ['right_record_key']},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_touched') }}
-- depends_on: {{ ref('int_identity_block_keys') }}
-- depends_on: {{ ref('identifier_blocklist') }}
-- depends_on: {{ ref('int_identity_records_unioned') }}

with

{% if is_incremental() %}

    -- the block keys of the touched records (pg_temp.touched_records, stage touched_records)
    touched_keys as materialized (

        select
            block_keys.record_key,
            block_keys.block_key
        from pg_temp.touched_records as touched
        inner join {{ ref('int_identity_block_keys') }} as block_keys
            on touched.record_key = block_keys.record_key
        where block_keys.is_current

    ),

    -- every pair with a touched side: touched left, or touched right and an untouched left
    candidate_keys as (

        select
            least(touched_keys.record_key, other_keys.record_key) as left_record_key,
            greatest(touched_keys.record_key, other_keys.record_key) as right_record_key,
            touched_keys.block_key
        from touched_keys
        -- lateral, offset 0: one index scan on block_key per touched key (as a join, the
        -- planner hashed all the block keys for a few thousand)
        cross join lateral (
            select block_keys.record_key
            from {{ ref('int_identity_block_keys') }} as block_keys
            where block_keys.block_key = touched_keys.block_key and block_keys.is_current
            offset 0
        ) as other_keys
        left join pg_temp.touched_records as other_touched
            on other_keys.record_key = other_touched.record_key
        where
            touched_keys.record_key <> other_keys.record_key
            and (other_touched.record_key is null or touched_keys.record_key < other_keys.record_key)

    ),

    candidate_pairs as materialized (

        select
            left_record_key,
            right_record_key,
            array_agg(distinct split_part(block_key, ':', 1) order by split_part(block_key, ':', 1))
                as blocking_rules
        from candidate_keys
        group by left_record_key, right_record_key

    ),

{% elif stages_full_build() %}

    -- a full build: the tables of stage full_build_pairs, which parallel workers can read
    candidate_pairs as (

        select
            left_record_key,
            right_record_key,
            blocking_rules
        from {{ full_build_table('candidate_pairs') }}

    ),

{% else %}

    -- a unit test: every pair, as the stage of a full build finds them
    candidate_pairs as materialized (

        {{ full_build_candidate_pairs() }}

    ),

{% endif %}

{% if stages_full_build() %}

    -- not materialized: each join reads the table (a CTE read twice would be computed once,
    -- by the leader alone)
    records as not materialized (

        select * from {{ full_build_table('comparison_records') }}

    ),

{% else %}

    records as (

        select
            {{ comparison_record_columns() }}
        from {{ ref('int_identity_records_unioned') }}

    ),

{% endif %}

-- each candidate pair with its two records' values and their edit distances (computed once
-- here: offset 0 keeps the planner from copying them into every level that reads them)
paired as (

    select
        candidate_pairs.left_record_key,
        candidate_pairs.right_record_key,
        candidate_pairs.blocking_rules,
        {{ comparison_pair_columns('left_records', 'right_records') }},
        {{ comparison_edits('left_records.', 'right_records.') }}
    from candidate_pairs
    inner join records as left_records
        on candidate_pairs.left_record_key = left_records.record_key
    inner join records as right_records
        on candidate_pairs.right_record_key = right_records.record_key
    offset 0  -- noqa: AM09

),

compared as (

    select
        paired.left_record_key,
        paired.right_record_key,
        paired.blocking_rules,
        {{ comparison_levels('paired.left_', 'paired.right_', 'paired.') }},
        current_timestamp as computed_at
    from paired

)

select * from compared
