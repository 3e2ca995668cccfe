{#- pre-hook of every table-building model (dbt_project.yml): memory for this model's sorts,
    hashes (var model_work_mem), index builds (var model_maintenance_work_mem) and the planner's
    random page cost (var model_random_page_cost), set for its
    transaction only. PostgreSQL's defaults (4MB / 64MB) make the matched layer's joins over
    millions of records spill to disk. Null vars leave the server's settings alone. -#}
{% macro tune_session() -%}
    {%- set settings = [] -%}
    {%- if var('model_work_mem', none) -%}
        {%- do settings.append("set local work_mem = '" ~ var('model_work_mem') ~ "'") -%}
    {%- endif -%}
    {%- if var('model_maintenance_work_mem', none) -%}
        {%- do settings.append(
            "set local maintenance_work_mem = '" ~ var('model_maintenance_work_mem') ~ "'"
        ) -%}
    {%- endif -%}
    {%- if var('model_random_page_cost', none) -%}
        {%- do settings.append(
            "set local random_page_cost = " ~ var('model_random_page_cost')
        ) -%}
    {%- endif -%}
    {{ settings | join(';\n') if settings else 'select 1' }}
{%- endmacro %}
