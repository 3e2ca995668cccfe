-- Are serial complainers worth keeping? Complaint profiles by serial-complainer flag and
-- value tier: customers, mean net profit, mean CLV, and the cost of their complaints.
with

profiles as (

    select
        value_tier,
        complaint_cost,
        net_profit_amount,
        clv_amount,
        is_serial_complainer
    from {{ ref('customer_complaint_profiles') }}

)

select
    is_serial_complainer,
    value_tier,
    count(*) as customers,
    round(avg(net_profit_amount), 2) as average_net_profit,
    round(avg(clv_amount), 2) as average_clv,
    round(sum(complaint_cost), 2) as complaint_cost
from profiles
group by is_serial_complainer, value_tier
order by is_serial_complainer desc, value_tier asc
