{#- Phone number in E.164 (+<calling code><number>) by the record's country: its calling code,
    trunk prefix and international prefix come from seeds/country_calling_codes.csv. A number
    written with "+" or an international prefix ("00", or the country's own: "011" in the US
    and Canada, "0011" in Australia) is taken as international; a national number loses its
    trunk prefix (GB "07700 900123" -> +447700900123; US "1 212 555 0123" -> +12125550123);
    digits that already start with the calling code (GB "447700900123") are kept as they are;
    any other number gets the calling code. Fewer than var('phone_min_digits') digits, a
    single repeated digit, more than 19 digits (E.164 allows 15, after an international prefix
    of at most 4), or a national number of a country without a calling code is null.
    `country` is a SQL expression of the ISO 3166-1 alpha-2 code (default:
    var('default_country')). -#}
{% macro normalize_phone(column, country=none) -%}
    {{ return(adapter.dispatch('normalize_phone', 'customer_intelligence')(column, country)) }}
{%- endmacro %}

{% macro default__normalize_phone(column, country=none) -%}
    {%- set country = country if country is not none else "'" ~ var('default_country') | upper ~ "'" -%}
    {%- set codes = country_reference('country_calling_codes') ~ " -> (" ~ country ~ ")" -%}
    {%- set calling_code = "(" ~ codes ~ " ->> 'calling_code')" -%}
    {%- set trunk_prefix = "(" ~ codes ~ " ->> 'trunk_prefix')" -%}
    {%- set international_prefix = "(" ~ codes ~ " ->> 'international_prefix')" -%}
    {%- set digits = "regexp_replace(" ~ column ~ ", '[^0-9]', '', 'g')" -%}
    {%- set e164 -%}
        case
            when btrim({{ column }}) like '+%' then {{ digits }}
            when {{ digits }} like {{ international_prefix }} || '%'
                then substr({{ digits }}, length({{ international_prefix }}) + 1)
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
            when {{ digits }} like {{ trunk_prefix }} || '%'
                then {{ calling_code }} || substr({{ digits }}, length({{ trunk_prefix }}) + 1)
            when {{ digits }} like {{ calling_code }} || '%'
                and length({{ digits }}) >= {{ var('phone_min_digits') }} + length({{ calling_code }})
                then {{ digits }}
            else {{ calling_code }} || {{ digits }}
        end
    {%- endset -%}
    case
        when length({{ digits }}) between {{ var('phone_min_digits') }} and 19
            and {{ digits }} !~ '^(\d)\1*$'
            and substr({{ digits }}, 2) !~ '^0*$'
            then '+' || ({{ e164 }})
    end
{%- endmacro %}
