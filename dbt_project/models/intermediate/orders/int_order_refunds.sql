-- Refunds rolled up to the order grain, so marts join one row per order.
with

refunds as (

    select * from {{ ref('stg_refunds') }}

)

select
    order_id,
    count(*) as refund_count,
    sum(refund_amount) as refund_amount,
    max(refunded_at) as last_refunded_at
from refunds
group by order_id
