{#- One seed of per-country rules (seeds/country_calling_codes.csv, seeds/postcode_formats.csv)
    as a jsonb object keyed by country_code, each value the seed's row:
    `{{ country_reference('postcode_formats') }} -> 'GB' ->> 'pattern'`. The subquery does not
    depend on the row, so PostgreSQL evaluates it once per query (an InitPlan), not per row:
    a lookup without a join in the staging models. -#}
{% macro country_reference(seed_name) -%}
    (select jsonb_object_agg(reference_rows.country_code, to_jsonb(reference_rows)) from {{ ref(seed_name) }} as reference_rows)
{%- endmacro %}
