-- The latest count per warehouse and SKU: earlier counts are history.
with

stock as (

    select * from {{ ref('stg_stock') }}

),

ranked as (

    select
        warehouse_id,
        sku,
        quantity,
        counted_at,
        batch_id,
        row_number() over (
            partition by warehouse_id, sku
            order by counted_at desc
        ) as recency_rank
    from stock

)

select
    warehouse_id,
    sku,
    quantity,
    counted_at,
    batch_id
from ranked
where recency_rank = 1
