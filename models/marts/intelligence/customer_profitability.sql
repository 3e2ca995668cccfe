with

returns as (

    select
        customer_id,
        refunded_amount,
        returned_at
    from {{ ref('int_returns_attributed') }}
    where customer_id is not null

),

cost_to_serve as (

    select
        customer_id,
        contact_cost,
        return_handling_cost,
        marketing_cost,
        cost_to_serve,
        cost_month
    from {{ ref('customer_cost_to_serve') }}

),

sales as (

    select
        customer_id,
        revenue_amount,
        gross_margin_amount,
        revenue_amount_12m,
        gross_margin_amount_12m
    from {{ ref('int_customer_purchase_states') }}

),

refunds as (

    select
        customer_id,
        sum(refunded_amount) as refunded_amount,
        sum(refunded_amount) filter (
            where returned_at > {{ as_of_date() }} - interval '12 months'
        ) as refunded_amount_12m
    from returns
    group by customer_id

),

costs as (

    select
        customer_id,
        sum(contact_cost) as contact_cost,
        sum(return_handling_cost) as return_handling_cost,
        sum(marketing_cost) as marketing_cost,
        sum(cost_to_serve) as cost_to_serve,
        sum(cost_to_serve) filter (
            where cost_month > {{ as_of_date() }} - interval '12 months'
        ) as cost_to_serve_12m
    from cost_to_serve
    group by customer_id

),

joined as (

    -- numeric arithmetic is most of this model's time on a million customers: what most of
    -- them lack (refunds, costs) is 0 without arithmetic, and the net profit is computed once
    select
        sales.customer_id,
        sales.revenue_amount,
        sales.gross_margin_amount,
        coalesce(refunds.refunded_amount, 0) as refunded_amount,
        refunds.refunded_amount_12m,
        -- the share of a refund that costs us: all of it less the product cost going back
        -- into stock; null without refunds (no arithmetic)
        case
            when refunds.customer_id is null then null
            when sales.revenue_amount > 0
                then
                    1 - {{ var('returned_goods_resaleable_share') }}
                    * (1 - sales.gross_margin_amount / sales.revenue_amount)
            else 1
        end as refund_cost_share,
        coalesce(costs.contact_cost, 0) as contact_cost,
        coalesce(costs.return_handling_cost, 0) as return_handling_cost,
        coalesce(costs.marketing_cost, 0) as marketing_cost,
        coalesce(costs.cost_to_serve, 0) as cost_to_serve,
        coalesce(sales.revenue_amount_12m, 0) as revenue_amount_12m,
        coalesce(sales.gross_margin_amount_12m, 0) as gross_margin_amount_12m,
        coalesce(costs.cost_to_serve_12m, 0) as cost_to_serve_12m
    from sales
    left join refunds on sales.customer_id = refunds.customer_id
    left join costs on sales.customer_id = costs.customer_id

),

returns_costed as (

    select
        *,
        coalesce(refunded_amount * refund_cost_share, 0) as returns_cost,
        coalesce(refunded_amount_12m * refund_cost_share, 0) as returns_cost_12m
    from joined

),

netted as (

    select
        *,
        gross_margin_amount - returns_cost - cost_to_serve as net_profit_amount,
        gross_margin_amount_12m - returns_cost_12m - cost_to_serve_12m as net_profit_amount_12m
    from returns_costed

),

final as (

    select
        customer_id,
        revenue_amount::numeric(14, 2) as revenue_amount,
        gross_margin_amount::numeric(14, 2) as gross_margin_amount,
        refunded_amount::numeric(14, 2) as refunded_amount,
        returns_cost::numeric(14, 2) as returns_cost,
        contact_cost::numeric(14, 2) as contact_cost,
        return_handling_cost::numeric(14, 2) as return_handling_cost,
        marketing_cost::numeric(14, 2) as marketing_cost,
        cost_to_serve::numeric(14, 2) as cost_to_serve,
        net_profit_amount::numeric(14, 2) as net_profit_amount,
        revenue_amount_12m::numeric(14, 2) as revenue_amount_12m,
        gross_margin_amount_12m::numeric(14, 2) as gross_margin_amount_12m,
        cost_to_serve_12m::numeric(14, 2) as cost_to_serve_12m,
        net_profit_amount_12m::numeric(14, 2) as net_profit_amount_12m,
        net_profit_amount >= 0 as is_profitable
    from netted

)

select * from final
