{#- The load time of a dlt-loaded row: dlt's load id is the epoch of the load's start. -#}
{% macro dlt_loaded_at(column='_dlt_load_id') -%}
    to_timestamp({{ column }}::numeric)
{%- endmacro %}
