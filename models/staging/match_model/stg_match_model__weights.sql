with

source as (

    select * from {{ source('match_model', 'match_weights') }}

),

renamed as (

    select
        model_id,
        comparison,
        comparison_level,
        m_probability,
        u_probability
    from source

)

select * from renamed
