{#- Scoring with the current match model (the latest fit in matching.match_models, else the
    defaults of seeds/match_comparison_levels.csv). -#}

{#- The id of the model the scoring uses now ('default' before the first fit), read when the
    model is compiled; a subquery where nothing can be read (parse, unit tests, a warehouse
    not built yet, as when sqlfluff compiles the project). -#}
{% macro current_match_model_id() -%}
    {%- set query -%}
        select coalesce(
            (select model_id from {{ ref('stg_match_model__models') }} order by fitted_at desc limit 1),
            'default'
        )
    {%- endset -%}
    {%- if _can_read_at_compile() and load_relation(ref('stg_match_model__models')) is not none -%}
        '{{ run_query(query).columns[0].values()[0] }}'
    {%- else -%}
        ({{ query }})
    {%- endif -%}
{%- endmacro %}

{#- Whether the links of this model were weighed by another model than the current one (a
    refit since the last run): then every pair is weighed again. False where nothing can be
    read. -#}
{% macro match_model_changed() -%}
    {%- if not (is_incremental() and _can_read_at_compile()) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set current = current_match_model_id() -%}
    {%- set query -%}
        select coalesce(
            (select model_id from {{ this }} order by computed_at desc limit 1), {{ current }}
        ) <> {{ current }}
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{#- pre_hook of int_identity_links_fuzzy: after a refit every link goes (all are weighed
    again); else the links of the touched records (delete_links_of_touched_records). -#}
{% macro delete_links_to_weigh_again() -%}
    {%- if is_incremental() and match_model_changed() -%}
        truncate {{ this }}
    {%- else -%}
        {{ delete_links_of_touched_records() }}
    {%- endif -%}
{%- endmacro %}

{#- The weight (log2 of m / u) of `comparison`'s level in a pair, joined as `<comparison>_weights`
    from the weights CTE; term-frequency adjusted comparisons weigh an exact agreement by the
    value's frequency (`<comparison>_frequencies.value_weight`, joined on `value`) where the
    fit counted it. -#}
{% macro comparison_weight(comparison, value=none) -%}
    {%- if value -%}
        coalesce({{ comparison }}_frequencies.value_weight, {{ comparison }}_weights.level_weight, 0)
    {%- else -%}
        coalesce({{ comparison }}_weights.level_weight, 0)
    {%- endif -%}
{%- endmacro %}

{#- The joins comparison_weight needs for `comparison` (its level column is
    `<comparison>_level` of `pairs`; `value` its value on the left record, looked up where
    the level is the term-frequency adjusted one). -#}
{% macro comparison_weight_joins(comparison, value=none) -%}
    left join weights as {{ comparison }}_weights
        on
            {{ comparison }}_weights.comparison = '{{ comparison }}'
            and pairs.{{ comparison }}_level = {{ comparison }}_weights.comparison_level
    {%- if value %}
    left join term_frequencies as {{ comparison }}_frequencies
        on
            {{ comparison }}_frequencies.comparison = '{{ comparison }}'
            and {{ value }} = {{ comparison }}_frequencies.comparison_value
            and {{ comparison }}_weights.is_term_frequency_adjusted
    {%- endif %}
{%- endmacro %}

{#- What a household's shared evidence was counted too often in a weighed pair (is_same_household,
    the comparisons' weights, is_household_email_shared, is_household_phone_shared; `weighed`
    prefixes them): a household shares its address and often a family email or phone, so
    there they are one piece of evidence, the strongest of them, not the sum (a father and son
    at one address on the family email would otherwise link on the household alone). -#}
{% macro household_overlap(weighed='') -%}
    {%- set address -%}
        ({{ weighed }}house_number_weight + {{ weighed }}street_weight + {{ weighed }}locality_weight
        + {{ weighed }}town_weight + {{ weighed }}postcode_weight)
    {%- endset -%}
    {%- set email = 'case when ' ~ weighed ~ 'is_household_email_shared then ' ~ weighed ~ 'email_weight else 0 end' -%}
    {%- set phone = 'case when ' ~ weighed ~ 'is_household_phone_shared then ' ~ weighed ~ 'phone_weight else 0 end' -%}
    case
        when coalesce({{ weighed }}is_same_household, false)
            then greatest({{ address }}, 0) + {{ email }} + {{ phone }}
            - greatest({{ address }}, {{ email }}, {{ phone }}, 0)
        else 0
    end
{%- endmacro %}

{#- The household guard's weight of a weighed pair (is_same_household,
    household_disagreements, contact_disagreements, is_first_name_missing,
    is_other_name_on_shared_contact, birth_date_level; `weighed` prefixes them): see
    int_identity_links_fuzzy. -#}
{% macro household_weight(weighed='') -%}
    case
        when not coalesce({{ weighed }}is_same_household, false) then 0
        when coalesce({{ weighed }}is_other_name_on_shared_contact, false)
            then {{ var('match_household_disagreement_weight') }}
        -- coalesce(..., 0) <> 5 is "is distinct from 5", which sqlfluff cannot parse here
        when
            {{ weighed }}household_disagreements = 0
            and {{ weighed }}is_first_name_missing
            and coalesce({{ weighed }}birth_date_level, 0) <> 5
            then {{ var('match_household_single_disagreement_weight') }}
        when {{ weighed }}household_disagreements = 0 then 0
        when {{ weighed }}birth_date_level = 5 then {{ var('match_household_single_disagreement_weight') }}
        when {{ weighed }}household_disagreements = 1 and {{ weighed }}contact_disagreements = 1
            then {{ var('match_household_disagreement_weight') }}
        when {{ weighed }}household_disagreements = 1 then {{ var('match_household_single_disagreement_weight') }}
        else {{ var('match_household_disagreement_weight') }}
    end
{%- endmacro %}
