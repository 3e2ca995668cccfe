{#- The tables the match-model fit (`ciw match --refit`, a step of `ciw run` when the model is
    missing or older than var('match_refit_days')) writes: one row per fit in
    matching.match_models, its m and u probabilities per comparison level in
    matching.match_weights and the term frequencies of common values in
    matching.match_term_frequencies. Created empty by on-run-start so that a plain `dbt build`
    works before any fit (the scoring then uses seeds/match_comparison_levels.csv). -#}
{% macro create_match_model_tables() -%}
create schema if not exists matching;

create table if not exists matching.match_models (
    model_id text primary key,
    record_count bigint not null,
    candidate_pair_count bigint not null,
    sampled_pair_count bigint not null,
    prior_match_probability double precision not null,
    em_iterations integer not null,
    em_sessions jsonb not null,
    fit_seconds double precision not null,
    fitted_at timestamptz not null default now()
);

create table if not exists matching.match_weights (
    model_id text not null references matching.match_models (model_id) on delete cascade,
    comparison text not null,
    comparison_level integer not null,
    m_probability double precision not null,
    u_probability double precision not null,
    primary key (model_id, comparison, comparison_level)
);

create table if not exists matching.match_term_frequencies (
    model_id text not null references matching.match_models (model_id) on delete cascade,
    comparison text not null,
    comparison_value text not null,
    value_frequency double precision not null,
    primary key (model_id, comparison, comparison_value)
)
{%- endmacro %}
