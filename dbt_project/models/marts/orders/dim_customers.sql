-- One row per customer with lifetime order figures.
with

customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

customer_orders as (

    select
        customer_id,
        count(*) as order_count,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        sum(net_amount) as lifetime_net_amount
    from orders
    group by customer_id

)

select
    customers.customer_id,
    customers.customer_name,
    customers.country_code,
    customer_orders.first_ordered_at,
    customer_orders.last_ordered_at,
    coalesce(customer_orders.order_count, 0) as order_count,
    coalesce(customer_orders.lifetime_net_amount, 0) as lifetime_net_amount,
    {{ airlock_batch_columns() }}
from customers
left join customer_orders on customers.customer_id = customer_orders.customer_id
