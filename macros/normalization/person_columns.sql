{#- The contact and name columns of a person-bearing staging model, raw and normalised, for
    source tables that use the common column names (first_name, last_name, email, phone,
    address_line1, city, postcode), and the record's country_code: the table's own country
    column (`country_column`) when it has one, else the source's default country
    (source_country). Phones and postcodes are normalised by that country. Keeps the staging
    models of accounts, guest checkouts, loyalty sign-ups and contacts identical in how they
    normalise. -#}
{% macro person_columns(source_name, country_column=none, with_address=true, with_phone=true) -%}
    {%- set country = source_country(source_name, country_column) -%}
        nullif(btrim(email), '') as email,
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        {{ normalize_name('first_name') }} as first_name_normalized,
        {{ normalize_name('last_name') }} as last_name_normalized,
    {%- if with_phone %}
        nullif(btrim(phone), '') as phone,
        {{ normalize_phone('phone', country) }} as phone_e164,
    {%- endif %}
    {%- if with_address %}
        nullif(btrim(address_line1), '') as address_line1,
        {{ normalize_address('address_line1') }} as address_normalized,
        nullif(btrim(city), '') as city,
        {{ normalize_postcode('postcode', country) }} as postcode,
    {%- endif %}
        {{ country }} as country_code,
{%- endmacro %}
