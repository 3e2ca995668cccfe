{#- The ISO 3166-1 alpha-2 country of a staged record: the row's own country column when the
    source table has one (trimmed, upper case, "UK" read as "GB"), else, and when it is empty,
    the source's default: var('source_default_countries')[source_name], else
    var('default_country'). -#}
{% macro source_country(source_name, column=none) -%}
    {%- set default = var('source_default_countries', {}).get(source_name, var('default_country')) | upper -%}
    {%- if column is none -%}
        '{{ default }}'
    {%- else -%}
        case
            when nullif(btrim({{ column }}), '') is null then '{{ default }}'
            when upper(btrim({{ column }})) = 'UK' then 'GB'
            else upper(btrim({{ column }}))
        end
    {%- endif -%}
{%- endmacro %}
