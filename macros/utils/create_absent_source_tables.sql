{#- The raw tables of a source that is not loaded (not configured, or a table its system has
    never sent a row of) are created empty by on-run-start, with the columns and types their
    sources file declares, so that every model builds with any subset of sources
    (docs/bring-your-own-data.md). Each stand-in carries a comment starting 'ciw stand-in:':
    the loader drops a source's stand-ins before that source's first load, and dlt creates
    the real tables. Plain SQL (a do block checks for each table), so compiling needs no database. -#}
{% macro create_absent_source_tables() -%}
{%- set sources = graph.get('sources', {}).values() | selectattr('source_name', 'in', var('raw_sources')) | list -%}
{%- for schema in sources | map(attribute='schema') | unique %}
create schema if not exists {{ schema }};
{%- endfor %}
{%- for node in sources | sort(attribute='unique_id') %}
{%- set columns = node.columns.values() | list %}
{%- if columns | rejectattr('data_type') | list %}
    {{ exceptions.raise_compiler_error(
        'source ' ~ node.source_name ~ '.' ~ node.name ~ ': every column needs a data_type '
        ~ '(the empty stand-in of a source that is not loaded is created from them)'
    ) }}
{%- endif %}
do $$
begin
    if to_regclass('{{ node.schema }}.{{ node.identifier }}') is null then
        create table {{ node.schema }}.{{ node.identifier }} (
            {%- for column in columns %}
            {{ adapter.quote(column.name) }} {{ column.data_type }}{{ "," if not loop.last }}
            {%- endfor %}
        );
        comment on table {{ node.schema }}.{{ node.identifier }} is 'ciw stand-in: empty until its source loads';
    end if;
end
$$;
{%- endfor %}
{%- endmacro %}
