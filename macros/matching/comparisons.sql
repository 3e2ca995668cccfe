{#- The comparisons of probabilistic (Fellegi-Sunter) matching: each turns two records'
    values of one attribute into a comparison level, a small integer whose m and u
    probabilities the fit estimates (seeds/match_comparison_levels.csv names every level).
    A missing value on either side gives null: neutral evidence, never a veto. `left` and
    `right` are the column prefixes of the two records (e.g. 'left_', 'right_'). -#}

{#- `column` (an email or phone of `identifier_type`), or null where it is a junk value of
    seeds/identifier_blocklist.csv ("test@test.com", "0000000000"): junk says nothing about who
    a record is, neither when it agrees nor when it differs. -#}
{% macro without_junk(column, identifier_type) -%}
    case
        when {{ column }} in (
            select lower(blocklist.identifier_value)
            from {{ ref('identifier_blocklist') }} as blocklist
            where blocklist.identifier_type = '{{ identifier_type }}'
        ) then null
        else {{ column }}
    end
{%- endmacro %}

{#- The numbers of a normalised address line, in order: house and flat numbers
    ("flat 3 83 grange rd" -> "3 83", "12a high st" -> "12a"). -#}
{% macro house_number(address) -%}
    nullif(btrim(regexp_replace(
        regexp_replace({{ address }}, '\m(?!\d+[a-z]?\M)\S+', '', 'g'), '\s+', ' ', 'g'
    )), '')
{%- endmacro %}

{#- The street of a normalised address line without its numbers and flat words
    ("flat 3 83 grange rd" -> "grange rd"). -#}
{% macro street_name(address) -%}
    nullif(btrim(regexp_replace(
        regexp_replace({{ address }}, '\m(flat|unit|apt|apartment|\d+[a-z]?)\M', '', 'g'),
        '\s+', ' ', 'g'
    )), '')
{%- endmacro %}

{#- The edit distances the comparison levels read, each computed once per pair (a level
    asks "within one slip?", then "within two?" of the same distance), as columns of the
    select that joins a pair's two records (`left` and `right` are their prefixes); that select
    ends in `offset 0`, so that the planner does not copy each call into every level that
    reads it. The swaps are computed only where the values differ: first and last name typed
    in each other's field (each within one slip), street and address line 2 traded (either
    within two slips of the other's). Each distance is skipped where the two values'
    character masks show it is beyond reach (masked_edit_distance). -#}
{% macro comparison_edits(left, right) -%}
    {{ masked_edit_distance(left, right, 'first_name') }} as first_name_edits,
    {{ masked_edit_distance(left, right, 'last_name') }} as last_name_edits,
    case
        when
            {{ left }}first_name_normalized <> {{ right }}first_name_normalized
            or {{ left }}last_name_normalized <> {{ right }}last_name_normalized
            then
                {{ masked_edit_distance(left, right, 'first_name', 'last_name', 1) }} <= 1
                and {{ masked_edit_distance(left, right, 'last_name', 'first_name', 1) }} <= 1
    end as names_swapped,
    {{ masked_edit_distance(left, right, 'street') }} as street_edits,
    {{ masked_edit_distance(left, right, 'locality') }} as locality_edits,
    case
        when
            {{ left }}street_normalized <> {{ right }}street_normalized
            or {{ left }}locality_normalized <> {{ right }}locality_normalized
            then
                {{ masked_edit_distance(left, right, 'street', 'locality') }} <= 2
                or {{ masked_edit_distance(left, right, 'locality', 'street') }} <= 2
    end as street_and_locality_swapped,
    {{ masked_edit_distance(left, right, 'town') }} as town_edits
{%- endmacro %}

{#- The distance in typing slips (up to `edits`) of the left record's `attribute` and the
    right record's `right_attribute` (the same one by default), computed only where their
    character masks (comparison_record_columns) allow it: else `edits` + 1. -#}
{% macro masked_edit_distance(left, right, attribute, right_attribute=none, edits=2) -%}
    {%- set right_attribute = right_attribute or attribute -%}
    case
        when
            -- the masks' symmetric difference: (a | b) - (a & b) is a xor b
            bit_count((
                ({{ left }}{{ attribute }}_mask | {{ right }}{{ right_attribute }}_mask)
                - ({{ left }}{{ attribute }}_mask & {{ right }}{{ right_attribute }}_mask)
            )::bit(64))
            > {{ 2 * edits }}
            then {{ edits + 1 }}
        else {{ edit_distance(
            left ~ attribute ~ '_normalized', right ~ right_attribute ~ '_normalized', edits
        ) }}
    end
{%- endmacro %}

{#- The distance of two values in typing slips, up to `edits` (`edits` + 1 beyond). -#}
{% macro edit_distance(left_value, right_value, edits=2) -%}
    {{ target.schema }}.edit_distance_within({{ left_value }}, {{ right_value }}, {{ edits }})
{%- endmacro %}

{#- first name: 6 exact, 5 nickname of one another (either reading of an ambiguous nickname),
    4 one slip, 3 swapped with the last name, 2 two slips (names of five letters or more),
    1 an initial that fits, 0 different. Reads the columns of comparison_edits (`edits`). -#}
{% macro first_name_level(left, right, edits) -%}
    case
        when {{ left }}first_name_normalized is null or {{ right }}first_name_normalized is null
            then null
        when {{ left }}first_name_normalized = {{ right }}first_name_normalized then 6
        when
            {{ left }}first_name_canonical in (
                {{ right }}first_name_canonical, {{ right }}first_name_alternative
            )
            or {{ left }}first_name_alternative in (
                {{ right }}first_name_canonical, {{ right }}first_name_alternative
            )
            then 5
        when
            greatest(length({{ left }}first_name_normalized), length({{ right }}first_name_normalized)) >= 3
            and {{ edits }}first_name_edits <= 1
            then 4
        when {{ edits }}names_swapped then 3
        when
            least(length({{ left }}first_name_normalized), length({{ right }}first_name_normalized)) >= 5
            and {{ edits }}first_name_edits <= 2
            then 2
        when
            least(length({{ left }}first_name_normalized), length({{ right }}first_name_normalized)) = 1
            and left({{ left }}first_name_normalized, 1) = left({{ right }}first_name_normalized, 1)
            then 1
        else 0
    end
{%- endmacro %}

{#- last name: 6 exact, 4 one slip, 3 swapped with the first name, 2 two slips (five letters
    or more), 0 different. Reads the columns of comparison_edits (`edits`). -#}
{% macro last_name_level(left, right, edits) -%}
    case
        when {{ left }}last_name_normalized is null or {{ right }}last_name_normalized is null
            then null
        when {{ left }}last_name_normalized = {{ right }}last_name_normalized then 6
        when
            greatest(length({{ left }}last_name_normalized), length({{ right }}last_name_normalized)) >= 3
            and {{ edits }}last_name_edits <= 1
            then 4
        when {{ edits }}names_swapped then 3
        when
            least(length({{ left }}last_name_normalized), length({{ right }}last_name_normalized)) >= 5
            and {{ edits }}last_name_edits <= 2
            then 2
        else 0
    end
{%- endmacro %}

{#- birth date: 5 exact, 4 one digit mistyped (or two adjacent digits transposed) or one day
    apart, 3 day and month swapped, 2 same year and month, 0 different. -#}
{% macro birth_date_level(left, right) -%}
    case
        when {{ left }}birth_date is null or {{ right }}birth_date is null then null
        when {{ left }}birth_date = {{ right }}birth_date then 5
        when
            abs({{ left }}birth_date - {{ right }}birth_date) = 1
            or {{ one_digit_apart(left ~ 'birth_date_number', right ~ 'birth_date_number') }}
            then 4
        when
            extract(year from {{ left }}birth_date) = extract(year from {{ right }}birth_date)
            and extract(month from {{ left }}birth_date) = extract(day from {{ right }}birth_date)
            and extract(day from {{ left }}birth_date) = extract(month from {{ right }}birth_date)
            then 3
        when
            date_trunc('month', {{ left }}birth_date) = date_trunc('month', {{ right }}birth_date)
            then 2
        else 0
    end
{%- endmacro %}

{#- A date as the number YYYYMMDD (birth_date_number of comparison_record_columns). -#}
{% macro date_number(date) -%}
    (
        extract(year from {{ date }})::integer * 10000
        + extract(month from {{ date }})::integer * 100
        + extract(day from {{ date }})::integer
    )
{%- endmacro %}

{#- Whether two numbers of `digits` digits are one slip apart: one digit mistyped, or two
    adjacent digits transposed (an optimal string alignment distance of 1, in integer
    arithmetic: the birth-date level reaches this for most pairs, and a call of
    edit_distance_within on two to_char() texts cost ten times as much). -#}
{% macro one_digit_apart(left_number, right_number, digits=8) -%}
    {%- set differing -%}
        (
        {%- for position in range(digits) %}
            ({{ left_number }} / {{ 10 ** position }} % 10 <> {{ right_number }} / {{ 10 ** position }} % 10)::integer
            {{- " +" if not loop.last }}
        {%- endfor %}
        )
    {%- endset -%}
    (
        {{ differing }} = 1
        or (
            {{ differing }} = 2
            and (
            {%- for position in range(digits - 1) %}
                (
                    {{ left_number }} / {{ 10 ** position }} % 10 = {{ right_number }} / {{ 10 ** (position + 1) }} % 10
                    and {{ left_number }} / {{ 10 ** (position + 1) }} % 10 = {{ right_number }} / {{ 10 ** position }} % 10
                    and {{ left_number }} / {{ 10 ** position }} % 10 <> {{ right_number }} / {{ 10 ** position }} % 10
                )
                {{- " or" if not loop.last }}
            {%- endfor %}
            )
        )
    )
{%- endmacro %}

{#- An attribute compared as: 3 exact, 2 within `edits` slips (values of `min_length`
    characters or more), 1 (with `swapped`, a boolean of comparison_edits) typed in another
    field (street and address line 2 trade places), 0 different. `distance`: the column of
    comparison_edits holding the two values' distance, where it has one. -#}
{% macro text_level(
    left_value, right_value, edits=2, min_length=4, distance=none, swapped=none
) -%}
    case
        when {{ left_value }} is null or {{ right_value }} is null then null
        when {{ left_value }} = {{ right_value }} then 3
        {%- if edits > 0 %}
            when
                least(length({{ left_value }}), length({{ right_value }})) >= {{ min_length }}
                and {{ distance or edit_distance(left_value, right_value, edits) }} <= {{ edits }}
                then 2
        {%- endif %}
        {%- if swapped %}
            when {{ swapped }} then 1
        {%- endif %}
        else 0
    end
{%- endmacro %}

{#- The columns of an identity record that comparison_levels reads (junk emails and phones
    left out: without_junk), and the character masks of the attributes compared by edit
    distance, for the records CTE of the models that compare pairs. -#}
{% macro comparison_record_columns() -%}
        record_key,
        first_name_normalized,
        first_name_canonical,
        first_name_alternative,
        last_name_normalized,
        birth_date,
        house_number,
        street_normalized,
        locality_normalized,
        town_normalized,
        postcode,
        {{ without_junk('email_normalized', 'email') }} as email_normalized,
        {{ without_junk('phone_e164', 'phone') }} as phone_e164,
        {{ date_number('birth_date') }} as birth_date_number,
        {%- for attribute in ['first_name', 'last_name', 'street', 'locality', 'town'] %}
            {{ target.schema }}.character_mask({{ attribute }}_normalized) as {{ attribute }}_mask
            {{- "," if not loop.last }}
        {%- endfor %}
{%- endmacro %}

{#- The compared columns of a pair's two records (`left_relation` and `right_relation`, rows of
    comparison_record_columns) as one row: left_<column>, right_<column>; the models select
    them with comparison_edits in the select that joins the pair to its records. -#}
{% macro comparison_pair_columns(left_relation, right_relation) -%}
    {%- for column in [
        'first_name_normalized', 'first_name_canonical', 'first_name_alternative',
        'last_name_normalized', 'birth_date', 'house_number', 'street_normalized',
        'locality_normalized', 'town_normalized', 'postcode', 'email_normalized', 'phone_e164',
        'birth_date_number',
    ] %}
        {{ left_relation }}.{{ column }} as left_{{ column }},
        {{ right_relation }}.{{ column }} as right_{{ column }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Every comparison of two records, as the level columns of int_identity_pairs_compared
    (`<comparison>_level`): `left` and `right` prefix the two records' values, `edits` the
    columns of comparison_edits. -#}
{% macro comparison_levels(left, right, edits) -%}
    {{ first_name_level(left, right, edits) }} as first_name_level,
    {{ last_name_level(left, right, edits) }} as last_name_level,
    {{ birth_date_level(left, right) }} as birth_date_level,
    {{ text_level(left ~ 'house_number', right ~ 'house_number', edits=0) }} as house_number_level,
    {{ text_level(
        left ~ 'street_normalized', right ~ 'street_normalized', edits=2, min_length=5,
        distance=edits ~ 'street_edits', swapped=edits ~ 'street_and_locality_swapped',
    ) }} as street_level,
    {{ text_level(
        left ~ 'locality_normalized', right ~ 'locality_normalized', edits=2, min_length=5,
        distance=edits ~ 'locality_edits', swapped=edits ~ 'street_and_locality_swapped',
    ) }} as locality_level,
    {{ text_level(
        left ~ 'town_normalized', right ~ 'town_normalized', edits=2, min_length=5,
        distance=edits ~ 'town_edits',
    ) }} as town_level,
    {{ text_level(left ~ 'postcode', right ~ 'postcode', edits=1, min_length=4) }} as postcode_level,
    {{ text_level(left ~ 'email_normalized', right ~ 'email_normalized', edits=1, min_length=6) }}
        as email_level,
    {{ text_level(left ~ 'phone_e164', right ~ 'phone_e164', edits=1, min_length=8) }}
        as phone_level
{%- endmacro %}

{#- The comparisons, in the order of their level columns (the fit and the scoring read them). -#}
{% macro match_comparisons() -%}
    {{ return([
        'first_name', 'last_name', 'birth_date', 'house_number', 'street', 'locality', 'town',
        'postcode', 'email', 'phone',
    ]) }}
{%- endmacro %}

{#- Whether an email's local part names a record's person: it holds their first name (three
    letters or more), or begins with its initial and the last name ("cedwards" for Catherine
    Edwards). A personal email that names one of two records on it, and not the other, says
    the other's first name was replaced, where a family's email ("thewrights889") names
    nobody. `email`, `first_name`, `last_name`: SQL expressions of normalised values. -#}
{% macro email_names_person(email, first_name, last_name) -%}
    {%- set letters = "regexp_replace(split_part(" ~ email ~ ", '@', 1), '[^a-z]', '', 'g')" -%}
    coalesce(
        (length({{ first_name }}) >= 3 and strpos({{ letters }}, replace({{ first_name }}, ' ', '')) > 0)
        or starts_with({{ letters }}, left({{ first_name }}, 1) || replace({{ last_name }}, ' ', '')),
        false
    )
{%- endmacro %}

{#- Whether an E.164 phone is a mobile number (seeds/mobile_phone_patterns.csv): one person's,
    where a fixed line may be a household's. False where unknown (no number, or a country
    without a pattern). The patterns are read once per query (an InitPlan). -#}
{% macro is_mobile_phone(phone) -%}
    coalesce(
        {{ phone }} ~ (select string_agg(mobile.pattern, '|') from {{ ref('mobile_phone_patterns') }} as mobile),
        false
    )
{%- endmacro %}
