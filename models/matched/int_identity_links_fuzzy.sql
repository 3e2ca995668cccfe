{#- Probable links between records without a shared strong identifier. Blocking keeps the
    cost near-linear: only records sharing a block key (birth date + postcode, birth date +
    a name prefix, postcode + address) are compared. Names are
    compared with typos (edit distance), nicknames folded and first/last swapped. Households
    (same address, same last name) do not merge: both names must be similar, birth dates must
    agree where both are known, and without a birth date the two records must not carry a
    different email or phone (two people of the same name at one address).
    Incremental: the links of records touched since this model last wrote
    (int_identity_records_touched: changed records and the members of households whose
    members changed) are deleted and computed again. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=["{{ stage_touched_records() }}", "{{ delete_links_of_touched_records() }}"],
    indexes=[
        {'columns': ['left_record_key']},
        {'columns': ['right_record_key']},
        {'columns': ['computed_at']},
    ],
) }}

-- depends_on: {{ ref('int_identity_records_touched') }}

{#- similarities below both thresholds need not be exact (name_similarity's at_least) -#}
{%- set lowest_threshold = [var('fuzzy_name_threshold'), var('fuzzy_name_threshold_without_birth_date')] | min %}

with

{% if is_incremental() %}

    -- every pair with a touched side (pg_temp.touched_records, staged by the pre_hook): touched
    -- left, or touched right and an untouched left; index joins on the block keys
    touched_keys as materialized (

        select
            block_keys.record_key,
            block_keys.block_key
        from pg_temp.touched_records as touched
        inner join {{ ref('int_identity_block_keys') }} as block_keys
            on touched.record_key = block_keys.record_key
        where block_keys.is_current

    ),

    candidate_pairs as materialized (

        select distinct
            least(touched_keys.record_key, other_keys.record_key) as left_record_key,
            greatest(touched_keys.record_key, other_keys.record_key) as right_record_key
        from touched_keys
        -- lateral, offset 0: one index scan on block_key per touched key (as a join, the
        -- planner hashed all four million block keys for a hundred thousand: 1.6 s of 2)
        cross join lateral (
            select block_keys.record_key
            from {{ ref('int_identity_block_keys') }} as block_keys
            where block_keys.block_key = touched_keys.block_key and block_keys.is_current
            offset 0
        ) as other_keys
        left join pg_temp.touched_records as other_touched
            on other_keys.record_key = other_touched.record_key
        where
            touched_keys.record_key <> other_keys.record_key
            and (other_touched.record_key is null or touched_keys.record_key < other_keys.record_key)

    ),

{% else %}

    block_keys as (

        select
            record_key,
            block_key
        from {{ ref('int_identity_block_keys') }}
        where is_current

    ),

    candidate_pairs as materialized (

        select distinct
            left_keys.record_key as left_record_key,
            right_keys.record_key as right_record_key
        from block_keys as left_keys
        inner join block_keys as right_keys
            on
                left_keys.block_key = right_keys.block_key
                and left_keys.record_key < right_keys.record_key

    ),

{% endif %}

-- namesakes at one address with different birth dates (a father and son of the same name):
-- there the address rule cannot tell them apart, so it does not apply
ambiguous_namesakes as (

    select
        postcode,
        address_normalized,
        first_name_canonical,
        last_name_normalized
    from {{ ref('int_address_namesakes') }}
    where is_ambiguous

),

pairs_with_names as materialized (

    select
        candidate_pairs.left_record_key,
        candidate_pairs.right_record_key,
        left_records.first_name_canonical as left_first_name,
        left_records.last_name_normalized as left_last_name,
        right_records.first_name_canonical as right_first_name,
        left_records.first_name_alternative as left_first_name_alternative,
        right_records.first_name_alternative as right_first_name_alternative,
        right_records.last_name_normalized as right_last_name,
        left_records.last_name_canonical as left_last_name_canonical,
        right_records.last_name_canonical as right_last_name_canonical,
        left_records.birth_date = right_records.birth_date as is_same_birth_date,
        left_records.birth_date is null or right_records.birth_date is null as is_birth_date_missing,
        left_records.address_normalized = right_records.address_normalized
        and left_records.postcode = right_records.postcode as is_same_address,
        ambiguous_namesakes.postcode is not null as is_ambiguous_namesake,
        left_records.email_normalized <> right_records.email_normalized
        or left_records.phone_e164 <> right_records.phone_e164 as has_conflicting_contact
    from candidate_pairs
    inner join {{ ref('int_identity_records_unioned') }} as left_records
        on candidate_pairs.left_record_key = left_records.record_key
    inner join {{ ref('int_identity_records_unioned') }} as right_records
        on candidate_pairs.right_record_key = right_records.record_key
    left join ambiguous_namesakes
        on
            left_records.postcode = ambiguous_namesakes.postcode
            and left_records.address_normalized = ambiguous_namesakes.address_normalized
            and left_records.first_name_canonical = ambiguous_namesakes.first_name_canonical
            and left_records.last_name_normalized = ambiguous_namesakes.last_name_normalized

),

compared as materialized (

    select
        left_record_key,
        right_record_key,
        is_same_birth_date,
        is_birth_date_missing,
        is_same_address,
        coalesce(has_conflicting_contact, false) as has_conflicting_contact,
        is_ambiguous_namesake,
        greatest(
            least(
                {{ target.schema }}.first_name_similarity(
                    left_first_name, left_first_name_alternative,
                    right_first_name, right_first_name_alternative, {{ lowest_threshold }}
                ),
                {{ target.schema }}.name_similarity(
                    left_last_name, right_last_name, {{ lowest_threshold }}
                )
            ),
            least(
                {{ target.schema }}.name_similarity(
                    left_first_name, right_last_name_canonical, {{ lowest_threshold }}
                ),
                {{ target.schema }}.name_similarity(
                    left_last_name_canonical, right_first_name, {{ lowest_threshold }}
                )
            )
        ) as name_score
    from pairs_with_names

),

links as (

    select
        left_record_key,
        right_record_key,
        name_score::numeric(6, 4) as match_score,
        case
            when is_same_birth_date then 'fuzzy_name_birth_date'
            else 'fuzzy_name_address'
        end as match_rule,
        'name_score=' || name_score
        || case when is_same_birth_date then ', same birth date' else ', same address' end
            as evidence,
        current_timestamp as computed_at
    from compared
    where
        (is_same_birth_date and name_score >= {{ var('fuzzy_name_threshold') }})
        or (
            is_birth_date_missing
            and is_same_address
            and not has_conflicting_contact
            and not is_ambiguous_namesake
            and name_score >= {{ var('fuzzy_name_threshold_without_birth_date') }}
        )

)

select * from links
