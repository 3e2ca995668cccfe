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

with

deterministic_links as (

    {% if is_incremental() %}
        {{ links_of_touched_records(
            ref('int_identity_links_deterministic'),
            ['left_record_key', 'right_record_key', 'match_rule', 'evidence', 'match_score'],
        ) }}
    {% else %}
        select
            left_record_key,
            right_record_key,
            match_rule,
            evidence,
            match_score
        from {{ ref('int_identity_links_deterministic') }}
    {% endif %}

),

fuzzy_links as (

    {% if is_incremental() %}
        {{ links_of_touched_records(
            ref('int_identity_links_fuzzy'),
            ['left_record_key', 'right_record_key', 'match_rule', 'evidence', 'match_score'],
            condition='links.is_link',
        ) }}
    {% else %}
        select
            left_record_key,
            right_record_key,
            match_rule,
            evidence,
            match_score
        from {{ ref('int_identity_links_fuzzy') }}
        where is_link
    {% endif %}

),

unioned as (

    select
        *,
        1 as rule_rank
    from deterministic_links
    union all
    select
        *,
        2 as rule_rank
    from fuzzy_links

),

best_per_pair as (

    select distinct on (left_record_key, right_record_key)
        left_record_key,
        right_record_key,
        match_rule,
        evidence,
        match_score,
        current_timestamp as computed_at
    from unioned
    order by
        left_record_key asc, right_record_key asc, rule_rank asc, match_score desc,
        match_rule asc, evidence asc

)

select * from best_per_pair
