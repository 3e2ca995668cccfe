{#- Postcode in its country's format (seeds/postcode_formats.csv: a regular expression per
    country, matched against the value in upper case without spaces or punctuation, and its
    replacement): "sw1a1aa" (GB) -> "SW1A 1AA", "a65f4e2" (IE) -> "A65 F4E2", "k1a0b1" (CA)
    -> "K1A 0B1", "1234ab" (NL) -> "1234 AB", "12345-6789" (US) -> "12345". A value that does
    not fit its country's format, or of a country without a format, is kept: trimmed, upper
    case, inner whitespace collapsed. Only an empty value is null. `country` is a SQL
    expression of the ISO 3166-1 alpha-2 code (default: var('default_country')). -#}
{% macro normalize_postcode(column, country=none) -%}
    {{ return(adapter.dispatch('normalize_postcode', 'customer_intelligence')(column, country)) }}
{%- endmacro %}

{% macro default__normalize_postcode(column, country=none) -%}
    {%- set country = country if country is not none else "'" ~ var('default_country') | upper ~ "'" -%}
    {%- set compact = "regexp_replace(upper(" ~ column ~ "), '[^A-Z0-9]', '', 'g')" -%}
    {%- set postcode_format = country_reference('postcode_formats') ~ " -> (" ~ country ~ ")" -%}
    case
        when {{ compact }} ~ ({{ postcode_format }} ->> 'pattern')
            then regexp_replace(
                {{ compact }},
                {{ postcode_format }} ->> 'pattern',
                {{ postcode_format }} ->> 'replacement'
            )
        else nullif(btrim(regexp_replace(upper({{ column }}), '\s+', ' ', 'g')), '')
    end
{%- endmacro %}
