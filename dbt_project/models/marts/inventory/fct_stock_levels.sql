-- Current stock per warehouse and SKU, classified by the reference bands.
with

latest as (

    select * from {{ ref('int_stock_latest') }}

),

bands as (

    select * from {{ ref('stock_status_bands') }}

)

select
    latest.warehouse_id,
    latest.sku,
    latest.quantity,
    latest.counted_at,
    coalesce(bands.stock_status, 'unknown') as stock_status,
    {{ airlock_batch_columns() }}
from latest
left join bands
    on latest.quantity between bands.band_min and bands.band_max
