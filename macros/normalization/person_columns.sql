{#- The contact and name columns of a person-bearing staging model, raw and normalised, for
    source tables that use the common column names (first_name, last_name, email, phone,
    address_line1, city, postcode). Keeps the staging models of accounts, guest checkouts and
    loyalty sign-ups identical in how they normalise. -#}
{% macro person_columns(with_address=true, with_phone=true) -%}
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
    {%- if with_phone %}
        nullif(btrim(phone), '') as phone,
        {{ normalize_phone('phone') }} as phone_e164,
    {%- endif %}
    {%- if with_address %}
        nullif(btrim(address_line1), '') as address_line1,
        {{ normalize_address('address_line1') }} as address_normalized,
        nullif(btrim(city), '') as city,
        {{ normalize_postcode('postcode') }} as postcode,
    {%- endif %}
{%- endmacro %}
