{#- The tables the lifetime-value step (`ciw clv`, a step of `ciw run` between two dbt builds)
    writes: one row per fit in clv.model_fits, the latest fit's per-customer predictions in
    clv.customer_predictions. Created empty by on-run-start so that a plain `dbt build` works
    before any fit (lifetime values are then null). -#}
{% macro create_clv_tables() -%}
create schema if not exists clv;

create table if not exists clv.model_fits (
    fit_id text primary key,
    as_of_date date not null,
    customer_count integer not null,
    repeat_customer_count integer not null,
    horizon_weeks double precision not null,
    annual_discount_rate double precision not null,
    bgnbd_r double precision not null,
    bgnbd_alpha double precision not null,
    bgnbd_a double precision not null,
    bgnbd_b double precision not null,
    bgnbd_log_likelihood double precision not null,
    gamma_gamma_p double precision not null,
    gamma_gamma_q double precision not null,
    gamma_gamma_gamma double precision not null,
    gamma_gamma_log_likelihood double precision not null,
    fit_seconds double precision not null,
    fitted_at timestamptz not null default now()
);

create table if not exists clv.customer_predictions (
    customer_id bigint primary key,
    fit_id text not null,
    probability_alive double precision not null,
    expected_purchases double precision not null,
    discounted_expected_purchases double precision not null,
    expected_purchase_value double precision not null
);
{%- endmacro %}
