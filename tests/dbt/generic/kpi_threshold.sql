{#- Alert: a KPI crossed a fixed threshold on one of the last `recent_days` complete days
    (the as-of day itself is still filling up and is left out). Returns the offending days. -#}
{% test kpi_threshold(model, column_name, min_value=none, max_value=none, recent_days=1, date_column='kpi_date') %}

with

recent as (

    select *
    from {{ model }}
    where
        {{ date_column }} < {{ as_of_date() }}
        and {{ date_column }} >= {{ as_of_date() }} - {{ recent_days }}

)

select
    {{ date_column }},
    {{ column_name }} as kpi_value,
    {{ min_value if min_value is not none else 'null' }} as min_value,
    {{ max_value if max_value is not none else 'null' }} as max_value
from recent
where
    {% if min_value is not none %}{{ column_name }} < {{ min_value }}{% else %}false{% endif %}
    or {% if max_value is not none %}{{ column_name }} > {{ max_value }}{% else %}false{% endif %}

{% endtest %}
