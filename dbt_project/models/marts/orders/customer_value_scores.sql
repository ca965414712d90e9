{{ config(tags=['heavy']) }}
-- Recency/frequency/monetary quintiles per customer. Tagged `heavy`: on Astro
-- and MWAA it runs in its own pod / ECS task, sized for window-heavy scans.
with

customers as (

    select * from {{ ref('dim_customers') }}

)

select
    customer_id,
    order_count,
    lifetime_net_amount,
    last_ordered_at,
    ntile(5) over (order by last_ordered_at asc) as recency_score,
    ntile(5) over (order by order_count asc) as frequency_score,
    ntile(5) over (order by lifetime_net_amount asc) as monetary_score,
    {{ airlock_batch_columns() }}
from customers
where order_count > 0
