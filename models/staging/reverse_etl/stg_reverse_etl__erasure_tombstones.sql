with

source as (

    select * from {{ source('reverse_etl', 'erasure_tombstones') }}

),

renamed as (

    select
        tombstone_sha256,
        erasure_id,
        identifier_type,
        created_at
    from source

)

select * from renamed
