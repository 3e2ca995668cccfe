{{ config(
    materialized='incremental_batch',
    stages=['touched_records'],
    replaces='links_to_weigh_again',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[
        {'columns': ['left_record_key']},
        {'columns': ['right_record_key']},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_touched') }}

{%- set weigh_all = not is_incremental() or match_model_changed() %}
{#- read once: the model's id, or a subquery where nothing can be read -#}
{%- set model_id = current_match_model_id() %}

with

{% if weigh_all %}

    pairs as (

        select * from {{ ref('int_identity_pairs_compared') }}

    ),

{% else %}

    pairs as (

        {{ links_of_touched_records(ref('int_identity_pairs_compared'), ['*']) }}

    ),

{% endif %}

{#- The CTEs read more than once are `not materialized`: PostgreSQL would compute each once into
    a CTE scan, which its parallel workers cannot read; inlined, the joins of every pair to its
    records and weights run on every core (200,000 records: 8-9 s against 13-16 s) -#}

models as not materialized (

    select
        model_id,
        prior_match_probability
    from {{ ref('stg_match_model__models') }}
    where model_id = {{ model_id }}

),

default_levels as (

    select
        comparison,
        comparison_level,
        m_probability,
        u_probability,
        is_term_frequency_adjusted
    from {{ ref('match_comparison_levels') }}

),

fitted_levels as (

    select
        comparison,
        comparison_level,
        m_probability,
        u_probability
    from {{ ref('stg_match_model__weights') }}
    where model_id = {{ model_id }}

),

weights as not materialized (

    select
        default_levels.comparison,
        default_levels.comparison_level,
        default_levels.is_term_frequency_adjusted,
        coalesce(fitted_levels.m_probability, default_levels.m_probability) as m_probability,
        ln(
            coalesce(fitted_levels.m_probability, default_levels.m_probability)::float
            / coalesce(fitted_levels.u_probability, default_levels.u_probability)::float
        ) / ln(2.0::float) as level_weight
    from default_levels
    left join fitted_levels
        on
            default_levels.comparison = fitted_levels.comparison
            and default_levels.comparison_level = fitted_levels.comparison_level

),

-- the weight of an exact agreement on each counted value: log2(m / the value's frequency)
term_frequencies as not materialized (

    select
        frequencies.comparison,
        frequencies.comparison_value,
        ln(
            weights.m_probability::float
            / greatest(frequencies.value_frequency, {{ var('match_tf_minimum_frequency') }})::float
        ) / ln(2.0::float) as value_weight
    from {{ ref('stg_match_model__term_frequencies') }} as frequencies
    inner join weights
        on
            frequencies.comparison = weights.comparison
            and weights.is_term_frequency_adjusted
    where frequencies.model_id = {{ model_id }}

),

-- the prior log-odds ("priors": sqlfluff reads "prior" as a keyword); before the first fit,
-- about one duplicate per record among all pairs of records
priors as (

    select
        log(2.0, (prior_match_probability / (1 - prior_match_probability))::numeric)::float
            as prior_weight
    from models
    union all
    select log(2.0, (2.0 / greatest(count(*), 2))::numeric)::float as prior_weight
    from {{ ref('int_identity_records_unioned') }}
    having not exists (select 1 from models)

),

records as not materialized (

    select
        record_key,
        first_name_normalized,
        first_name_canonical,
        last_name_normalized,
        address_normalized,
        town_normalized,
        postcode,
        email_normalized,
        -- a mobile is one person's (seeds/mobile_phone_patterns.csv); a fixed line may be a
        -- household's
        {{ is_mobile_phone('phone_e164') }} as is_mobile_phone
    from {{ ref('int_identity_records_unioned') }}

),

-- namesakes at one address with different birth dates (a father and son of the same name)
ambiguous_namesakes as (

    select
        place,
        address_normalized,
        first_name_canonical,
        last_name_normalized
    from {{ ref('int_address_namesakes') }}
    where is_ambiguous

),

{#- A personal email that names one of two records on it (its owner) and not the other, while
    their phones do not disagree: the other's first name was replaced (an alias, a typing
    slip of a whole name), not a family member's. There the first names' disagreement is
    explained and weighs nothing, and the email is no household's. -#}
{%- set email_names_one -%}
    coalesce(
        pairs.email_level = 3
        and pairs.first_name_level = 0
        and coalesce(pairs.phone_level, 3) <> 0
        and {{ email_names_person(
            'left_records.email_normalized',
            'nullif(left_records.first_name_normalized, right_records.last_name_normalized)',
            'left_records.last_name_normalized',
        ) }}
        <> {{ email_names_person(
            'left_records.email_normalized',
            'nullif(right_records.first_name_normalized, left_records.last_name_normalized)',
            'right_records.last_name_normalized',
        ) }},
        false
    )
{%- endset %}
{#- the email or phone two records share as a household might: not a personal email naming
    one of them, and not a mobile number -#}
{%- set household_email = '(pairs.email_level = 3 and not ' ~ email_names_one ~ ')' %}
{%- set household_phone = '(pairs.phone_level = 3 and not left_records.is_mobile_phone)' %}
{#- one email and one mobile: a person's, where a family shares an email and a fixed line -#}
{%- set email_and_mobile = 'coalesce(pairs.email_level = 3 and pairs.phone_level = 3 and left_records.is_mobile_phone, false)' %}

weighed as (

    select
        pairs.left_record_key,
        pairs.right_record_key,
        pairs.birth_date_level,
        (
            (pairs.house_number_level = 3 and pairs.street_level = 3)
            -- the same postcode where one record has no street address to tell the homes apart
            or (pairs.postcode_level = 3 and (pairs.house_number_level is null or pairs.street_level is null))
            or {{ household_email }}
            or {{ household_phone }}
        )
        -- a family rarely shares an email and a mobile: there one record's name was replaced
        and not {{ email_and_mobile }}
            as is_same_household,
        coalesce({{ household_email }}, false) as is_household_email_shared,
        coalesce({{ household_phone }}, false) as is_household_phone_shared,
        -- one email or one phone, but another first name (or none to tell, and another birth
        -- date or the other contact): a family email or phone; unless the email and a mobile
        -- both agree, which a family rarely shares (a replaced name)
        ({{ household_email }} or {{ household_phone }})
        and not {{ email_and_mobile }}
        and (
            pairs.first_name_level = 0
            or (
                pairs.first_name_level is null
                and (pairs.birth_date_level = 0 or pairs.email_level = 0 or pairs.phone_level = 0)
            )
        ) as is_other_name_on_shared_contact,
        -- contacts that disagree (two namesakes of one household, each with their own phone)
        coalesce((pairs.email_level = 0)::integer, 0)
        + coalesce((pairs.phone_level = 0)::integer, 0) as contact_disagreements,
        pairs.first_name_level is null as is_first_name_missing,
        -- what tells two people of one household apart: each of these that disagrees (first
        -- names two slips apart too: "oliver" and "olivia")
        coalesce((pairs.first_name_level in (0, 2))::integer, 0)
        + coalesce((pairs.last_name_level = 0)::integer, 0)
        + coalesce((pairs.birth_date_level = 0)::integer, 0)
        + coalesce((pairs.email_level = 0)::integer, 0)
        + coalesce((pairs.phone_level = 0)::integer, 0)
        -- namesakes at the address with different birth dates, and no birth date here
        + (pairs.birth_date_level is null and ambiguous_namesakes.place is not null)::integer
        * 2 as household_disagreements,
        case
            when {{ email_names_one }} then 0
            else {{ comparison_weight('first_name', 'left_records.first_name_normalized') }}
        end as first_name_weight,
        {{ comparison_weight('last_name', 'left_records.last_name_normalized') }} as last_name_weight,
        {{ comparison_weight('birth_date') }} as birth_date_weight,
        {{ comparison_weight('house_number') }} as house_number_weight,
        {{ comparison_weight('street') }} as street_weight,
        {{ comparison_weight('locality') }} as locality_weight,
        {{ comparison_weight('town', 'left_records.town_normalized') }} as town_weight,
        {{ comparison_weight('postcode', 'left_records.postcode') }} as postcode_weight,
        {{ comparison_weight('email') }} as email_weight,
        {{ comparison_weight('phone') }} as phone_weight
    from pairs
    inner join records as left_records on pairs.left_record_key = left_records.record_key
    left join records as right_records on pairs.right_record_key = right_records.record_key
    left join ambiguous_namesakes
        on
            coalesce(left_records.town_normalized, left_records.postcode) = ambiguous_namesakes.place
            and left_records.address_normalized = ambiguous_namesakes.address_normalized
            and left_records.first_name_canonical = ambiguous_namesakes.first_name_canonical
            and left_records.last_name_normalized = ambiguous_namesakes.last_name_normalized
    {{ comparison_weight_joins('first_name', 'left_records.first_name_normalized') }}
    {{ comparison_weight_joins('last_name', 'left_records.last_name_normalized') }}
    {{ comparison_weight_joins('birth_date') }}
    {{ comparison_weight_joins('house_number') }}
    {{ comparison_weight_joins('street') }}
    {{ comparison_weight_joins('locality') }}
    {{ comparison_weight_joins('town', 'left_records.town_normalized') }}
    {{ comparison_weight_joins('postcode', 'left_records.postcode') }}
    {{ comparison_weight_joins('email') }}
    {{ comparison_weight_joins('phone') }}

),

-- materialized: each pair's sum is computed once (inlined, every use below would repeat it)
summed as materialized (

    select
        weighed.*,
        priors.prior_weight,
        {{ household_weight('weighed.') }} - {{ household_overlap('weighed.') }} as household_weight,
        priors.prior_weight
        {%- for comparison in match_comparisons() %}
            + weighed.{{ comparison }}_weight
        {%- endfor %}
        + {{ household_weight('weighed.') }}
        - {{ household_overlap('weighed.') }} as match_weight
    from weighed
    cross join priors

),

links as (

    select
        left_record_key,
        right_record_key,
        'probabilistic' as match_rule,
        {{ model_id }} as model_id,
        round(match_weight::numeric, 2) as match_weight,
        (1 / (1 + power(2::float, -greatest(least(match_weight, 60), -60))))::numeric(6, 4)
            as match_score,
        jsonb_strip_nulls(jsonb_build_object(
            'prior', round(prior_weight::numeric, 2),
            'first_name', round(nullif(first_name_weight, 0)::numeric, 2),
            'last_name', round(nullif(last_name_weight, 0)::numeric, 2),
            'birth_date', round(nullif(birth_date_weight, 0)::numeric, 2),
            'house_number', round(nullif(house_number_weight, 0)::numeric, 2),
            'street', round(nullif(street_weight, 0)::numeric, 2),
            'locality', round(nullif(locality_weight, 0)::numeric, 2),
            'town', round(nullif(town_weight, 0)::numeric, 2),
            'postcode', round(nullif(postcode_weight, 0)::numeric, 2),
            'email', round(nullif(email_weight, 0)::numeric, 2),
            'phone', round(nullif(phone_weight, 0)::numeric, 2),
            'household', nullif(household_weight, 0)
        )) as comparison_weights,
        1 / (1 + power(2::float, -greatest(least(match_weight, 60), -60)))
        >= {{ var('match_link_probability') }} as is_link,
        current_timestamp as computed_at
    from summed
    where
        1 / (1 + power(2::float, -greatest(least(match_weight, 60), -60)))
        >= {{ var('match_review_probability') }}

)

select
    left_record_key,
    right_record_key,
    match_rule,
    model_id,
    match_weight,
    match_score,
    comparison_weights::text as evidence,
    comparison_weights,
    is_link,
    computed_at
from links
