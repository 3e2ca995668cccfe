{#- The date the intelligence marts are computed as of: var intelligence_as_of_date when set
    (to replay a past day, or in tests), else today (UTC). -#}
{% macro as_of_date() -%}
    {%- set as_of = var('intelligence_as_of_date', none) -%}
    {%- if as_of -%}
        date '{{ as_of }}'
    {%- else -%}
        (current_timestamp at time zone 'utc')::date
    {%- endif -%}
{%- endmacro %}

{#- A timestamptz as its UTC calendar date. -#}
{% macro utc_date(column) -%}
    ({{ column }} at time zone 'utc')::date
{%- endmacro %}
