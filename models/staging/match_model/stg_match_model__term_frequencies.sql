with

source as (

    select * from {{ source('match_model', 'match_term_frequencies') }}

),

renamed as (

    select
        model_id,
        comparison,
        comparison_value,
        value_frequency
    from source

)

select * from renamed
