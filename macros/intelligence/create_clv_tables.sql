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
    probability_alive numeric(8, 6) not null,
    expected_purchases numeric(12, 4) not null,
    discounted_expected_purchases numeric(12, 4) not null,
    expected_purchase_value numeric(14, 2) not null
);

-- predictions written by a version that stored them as double precision: converted once, to
-- the same values the staging view cast them to (a column a view reads cannot change type:
-- the staging view is dropped and re-created as it was around the conversion)
do $$
declare
    staging_view constant text := '{{ ref('stg_clv__customer_predictions') }}';
    view_definition text;
begin
    if exists (
        select 1
        from information_schema.columns
        where
            table_schema = 'clv'
            and table_name = 'customer_predictions'
            and column_name = 'probability_alive'
            and data_type = 'double precision'
    ) then
        view_definition := pg_get_viewdef(to_regclass(staging_view));
        if view_definition is not null then
            execute 'drop view ' || staging_view;
        end if;
        alter table clv.customer_predictions
            alter column probability_alive type numeric(8, 6),
            alter column expected_purchases type numeric(12, 4),
            alter column discounted_expected_purchases type numeric(12, 4),
            alter column expected_purchase_value type numeric(14, 2);
        if view_definition is not null then
            execute 'create view ' || staging_view || ' as ' || view_definition;
        end if;
        raise notice 'clv.customer_predictions: the scores are stored as numeric now';
    end if;
end
$$;
{%- endmacro %}
