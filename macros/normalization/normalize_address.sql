{#- Address line for matching: accents folded, lower case, punctuation to spaces, common
    street-type words abbreviated (street -> st, road -> rd, ...; var('address_abbreviations')),
    whitespace collapsed. -#}
{% macro normalize_address(column) -%}
    {%- set ns = namespace(expr="' ' || regexp_replace(" ~ fold_accents(column) ~ ", '[^a-z0-9]+', ' ', 'g') || ' '") -%}
    {%- for long, short in var('address_abbreviations').items() -%}
        {%- set ns.expr = "replace(" ~ ns.expr ~ ", ' " ~ long ~ " ', ' " ~ short ~ " ')" -%}
    {%- endfor -%}
    nullif(btrim(regexp_replace({{ ns.expr }}, '\s+', ' ', 'g')), '')
{%- endmacro %}
