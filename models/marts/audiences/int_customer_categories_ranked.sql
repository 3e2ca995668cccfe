with

shop_lines as (

    select
        order_id,
        product_id,
        quantity,
        line_amount
    from {{ ref('stg_shop__order_lines') }}

),

pos_lines as (

    select
        transaction_id,
        sku,
        quantity,
        line_amount
    from {{ ref('stg_pos__transaction_lines') }}

),

products as (

    select
        product_id,
        sku,
        product_category
    from {{ ref('stg_shop__products') }}

),

orders as (

    select
        order_key,
        customer_id
    from {{ ref('fct_orders') }}
    where customer_id is not null and not is_cancelled

),

lines as (

    select
        orders.customer_id,
        products.product_category,
        shop_lines.quantity,
        shop_lines.line_amount
    from shop_lines
    inner join orders on 'shop:' || shop_lines.order_id = orders.order_key
    inner join products on shop_lines.product_id = products.product_id
    union all
    select
        orders.customer_id,
        products.product_category,
        pos_lines.quantity,
        pos_lines.line_amount
    from pos_lines
    inner join orders on 'pos:' || pos_lines.transaction_id = orders.order_key
    inner join products on pos_lines.sku = products.sku

),

by_category as (

    select
        customer_id,
        product_category,
        sum(quantity) as item_count,
        sum(line_amount) as revenue_amount
    from lines
    group by customer_id, product_category

),

ranked as (

    select
        customer_id,
        product_category,
        item_count,
        revenue_amount::numeric(14, 2) as revenue_amount,
        row_number() over (
            partition by customer_id order by revenue_amount desc, product_category asc
        ) as category_rank
    from by_category

)

select * from ranked
