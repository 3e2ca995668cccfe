with

source as (

    select * from {{ source('match_model', 'match_models') }}

),

renamed as (

    select
        model_id,
        record_count,
        candidate_pair_count,
        sampled_pair_count,
        prior_match_probability,
        fitted_at
    from source

)

select * from renamed
