-- An order belongs to an account or to a guest checkout, never both and never neither: the
-- matched layer attributes every order to a customer through one of the two.
with

orders as (

    select
        order_id,
        account_id,
        guest_checkout_id
    from {{ ref('stg_shop__orders') }}

)

select * from orders
where (account_id is null) = (guest_checkout_id is null)
