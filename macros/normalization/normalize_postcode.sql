{#- UK-style postcode: upper case, no inner spacing, then one space before the inward code
    (the last three characters): "sw1a1aa" -> "SW1A 1AA". Under 5 characters -> null. -#}
{% macro normalize_postcode(column) -%}
    case
        when length(regexp_replace(upper({{ column }}), '[^A-Z0-9]', '', 'g')) between 5 and 8
            then regexp_replace(
                regexp_replace(upper({{ column }}), '[^A-Z0-9]', '', 'g'),
                '^(.+)(.{3})$', '\1 \2'
            )
    end
{%- endmacro %}
