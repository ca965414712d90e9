-- One row per order with refunds netted off and the customer's region.
with

orders as (

    select * from {{ ref('stg_orders') }}

),

refunds as (

    select * from {{ ref('int_order_refunds') }}

),

customers as (

    select * from {{ ref('stg_customers') }}

),

regions as (

    select * from {{ ref('country_regions') }}

)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.order_amount,
    customers.country_code,
    coalesce(regions.region, 'unknown') as region,
    coalesce(refunds.refund_count, 0) as refund_count,
    coalesce(refunds.refund_amount, 0) as refund_amount,
    orders.order_amount - coalesce(refunds.refund_amount, 0) as net_amount,
    coalesce(refunds.refund_amount, 0)
    >= orders.order_amount as is_fully_refunded,
    {{ airlock_batch_columns() }}
from orders
left join refunds on orders.order_id = refunds.order_id
left join customers on orders.customer_id = customers.customer_id
left join regions on customers.country_code = regions.country_code
