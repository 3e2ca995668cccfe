{#- Address line for matching: accents folded, lower case, punctuation to spaces, common
    street-type words abbreviated (street -> st, road -> rd, ...; var('address_abbreviations')),
    whitespace collapsed. -#}
{% macro normalize_address(column) -%}
    {#- always folded: the address is already 27 calls deep, and with ascii_or_folded's case
        sqlfluff's parser recursed too deep (it fails beyond about 30 nested calls) -#}
    {{ address_of_lowered(fold_accents(column)) }}
{%- endmacro %}

{#- normalize_address of a lower-cased, accent-free text expression. -#}
{% macro address_of_lowered(lowered) -%}
    {%- set ns = namespace(expr="' ' || regexp_replace(" ~ lowered ~ ", '[^a-z0-9]+', ' ', 'g') || ' '") -%}
    {%- for long, short in var('address_abbreviations').items() -%}
        {%- set ns.expr = "replace(" ~ ns.expr ~ ", ' " ~ long ~ " ', ' " ~ short ~ " ')" -%}
    {%- endfor -%}
    nullif(btrim(regexp_replace({{ ns.expr }}, '\s+', ' ', 'g')), '')
{%- endmacro %}
