{#- post-hook of every table model: fresh planner statistics before the next model plans its
    joins (autovacuum lags behind). A table that was just created (never analysed) is always
    analysed; an incremental model's table only when this run's inserts, updates and deletes
    reach var('analyze_changed_share') of its rows. Small changes that add up are left to
    autovacuum (its own threshold is 10% of the rows changed since the last analyse; the
    counter this run adds to is only published when the transaction commits, after this hook,
    so it cannot be read here). An analyse samples 30,000 rows whatever was written: at a
    million persons the fifteen matched tables' analyses took about 3 s of a 35 s incremental
    run that had changed 1% of them. -#}
{% macro analyze_if_changed() -%}
    {%- if config.get('materialized') in ('incremental', 'incremental_batch') -%}
        do $analyze_if_changed$
        declare
            stats record;
        begin
            select
                tables.reltuples,
                pg_stat_get_xact_tuples_inserted(tables.oid)
                + pg_stat_get_xact_tuples_updated(tables.oid)
                + pg_stat_get_xact_tuples_deleted(tables.oid) as changed_rows
            into stats
            from pg_class as tables
            where tables.oid = '{{ this }}'::regclass;
            if
                stats.reltuples <= 0
                or stats.changed_rows > {{ var('analyze_changed_share') }} * stats.reltuples
            then
                execute 'analyze {{ this }}';
            end if;
        end
        $analyze_if_changed$
    {%- else -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
