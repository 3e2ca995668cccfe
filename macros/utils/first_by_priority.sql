{#- Survivorship: the value of `column` from the highest-priority record that has one (lower
    source_priority first, then the most recently updated, then the record key, so ties are
    broken the same way on every run). Use inside a group by. -#}
{% macro first_by_priority(column) -%}
    (
        array_agg({{ column }} order by source_priority asc, record_updated_at desc, record_key asc)
        filter (where {{ column }} is not null)
    )[1]
{%- endmacro %}
