-- Nobody who opted out of the channel, asked to be forgotten or has an open complaint is in
-- any audience for that channel.
with

audiences as (

    select
        'welcome' as audience,
        customer_id,
        channel
    from {{ ref('audience_welcome') }}
    union all
    select
        'thank_you' as audience,
        customer_id,
        channel
    from {{ ref('audience_thank_you') }}
    union all
    select
        'win_back' as audience,
        customer_id,
        channel
    from {{ ref('audience_win_back') }}

),

reachability as (

    select
        customer_id,
        channel,
        suppression_reason
    from {{ ref('int_customer_channels_reachable') }}

)

select
    audiences.audience,
    audiences.customer_id,
    audiences.channel,
    reachability.suppression_reason
from audiences
left join reachability
    on
        audiences.customer_id = reachability.customer_id
        and audiences.channel = reachability.channel
where reachability.suppression_reason is not null or reachability.customer_id is null
