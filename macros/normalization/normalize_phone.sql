{#- Phone number in E.164 (+<country><number>), assuming var('default_country_calling_code')
    for national numbers (leading 0). International forms "+44", "0044" and "44..." are
    recognised. Fewer than var('phone_min_digits') digits, or a single repeated digit, is null. -#}
{% macro normalize_phone(column) -%}
    {{ return(adapter.dispatch('normalize_phone', 'customer_intelligence')(column)) }}
{%- endmacro %}

{% macro default__normalize_phone(column) -%}
    {%- set cc = var('default_country_calling_code') | string -%}
    {%- set digits = "regexp_replace(" ~ column ~ ", '[^0-9]', '', 'g')" -%}
    {%- set e164 -%}
        case
            when btrim({{ column }}) like '+%' then {{ digits }}
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
            when {{ digits }} like '0%' then '{{ cc }}' || substr({{ digits }}, 2)
            when {{ digits }} like '{{ cc }}%' and length({{ digits }}) >= {{ var('phone_min_digits') + cc | length }}
                then {{ digits }}
            else '{{ cc }}' || {{ digits }}
        end
    {%- endset -%}
    case
        when length({{ digits }}) >= {{ var('phone_min_digits') }}
            and {{ digits }} !~ '^(\d)\1*$'
            and substr({{ digits }}, 2) !~ '^0*$'
            then '+' || ({{ e164 }})
    end
{%- endmacro %}
