-- depends_on: {{ ref('int_customer_ids_assigned') }}
{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
    )
}}

with

orders as (

    select
        customer_id,
        loaded_at
    from {{ ref('fct_orders') }}

),

{% if is_incremental() %}

    assignments as (

        select
            customer_id,
            previous_customer_id,
            assigned_at
        from {{ ref('int_customer_ids_assigned') }}

    ),

    seen as (

        select
            coalesce(max(orders_loaded_up_to), '-infinity'::timestamptz) as orders_loaded_up_to,
            coalesce(max(orders_changed_at), '-infinity'::timestamptz) as orders_changed_at
        from {{ this }}

    ),

    loaded as (

        select
            customer_id,
            loaded_at
        from orders
        where loaded_at > (select seen.orders_loaded_up_to from seen)

    ),

    reassigned as (

        -- both ends of a move: the customer who got records and the one who lost them
        select unnest(array[customer_id, previous_customer_id]) as customer_id
        from assignments
        where assigned_at > (select seen.orders_changed_at from seen)

    ),

    changed as (

        select customer_id from loaded
        union
        select customer_id from reassigned

    ),

    final as (

        select
            customer_id,
            current_timestamp as orders_changed_at,
            greatest(
                (select max(loaded.loaded_at) from loaded),
                (select seen.orders_loaded_up_to from seen)
            ) as orders_loaded_up_to
        from changed
        where customer_id is not null

    )

{% else %}

    latest_load as (

        select max(loaded_at) as loaded_at
        from orders

    ),

    final as (

        select
            customer_id,
            current_timestamp as orders_changed_at,
            (select latest_load.loaded_at from latest_load) as orders_loaded_up_to
        from orders
        where customer_id is not null
        group by customer_id

    )

{% endif %}

select * from final
