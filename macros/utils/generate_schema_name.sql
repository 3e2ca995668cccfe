{#- Custom schemas are used as they are (staging, matched, marts, ...) rather than prefixed
    with the target schema, so BI tools and reverse-ETL read stable schema names. The `dev`
    target (profiles.yml.example) prefixes them with its schema instead (dev_marts, ...), so a
    development build never overwrites them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name == 'dev' -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
