{#- All links between identity records, deterministic and fuzzy, best rule per pair. -#}
with

deterministic_links as (

    select
        left_record_key,
        right_record_key,
        match_rule,
        evidence,
        match_score
    from {{ ref('int_identity_links_deterministic') }}

),

fuzzy_links as (

    select
        left_record_key,
        right_record_key,
        match_rule,
        evidence,
        match_score
    from {{ ref('int_identity_links_fuzzy') }}

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
        match_score
    from unioned
    order by left_record_key asc, right_record_key asc, rule_rank asc, match_score desc

)

select * from best_per_pair
