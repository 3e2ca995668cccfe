{#- Two names agree for a link through a strong identifier: similar enough
    (var('fuzzy_name_threshold')) or one keystroke apart (is_one_slip_apart). `similarity` is
    SQL for an already computed similarity of the two (default: name_similarity of them). -#}
{% macro names_agree(left_name, right_name, similarity=none) -%}
(
    {{ similarity or target.schema ~ '.name_similarity(' ~ left_name ~ ', ' ~ right_name ~ ', '
        ~ var('fuzzy_name_threshold') ~ ')' }}
    >= {{ var('fuzzy_name_threshold') }}
    or {{ target.schema }}.is_one_slip_apart({{ left_name }}, {{ right_name }})
)
{%- endmacro %}
