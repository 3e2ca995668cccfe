{#- dbt's is_incremental(), overridden for two reasons:
    - the models of materialisation incremental_batch (macros/materializations) are incremental
      too;
    - `dbt compile --no-introspect` (and `dbt docs generate --no-introspect`) compile without a
      database connection: nothing can be looked up, so every model compiles as its full
      build (is_incremental() is false) instead of failing. -#}
{% macro is_incremental() -%}
    {%- if not can_introspect() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
    {{ return(
        relation is not none
        and relation.type == 'table'
        and model.config.materialized in ('incremental', 'incremental_batch')
        and not should_full_refresh()
    ) }}
{%- endmacro %}

{#- Whether this compilation may query the warehouse: not while parsing (execute is false),
    not under --no-introspect (no connection at all). -#}
{% macro can_introspect() -%}
    {{ return(execute and flags.INTROSPECT is not false) }}
{%- endmacro %}
