with

source as (

    {{ raw_batch('inventory_raw', 'stock') }}

),

typed as (

    select
        cast(warehouse_id as varchar(64)) as warehouse_id,
        cast(sku as varchar(64)) as sku,
        {{ safe_cast('quantity', 'integer') }} as quantity,
        {{ safe_cast('counted_at', 'timestamp') }} as counted_at,
        cast(_batch_id as varchar(64)) as batch_id,
        row_number() over (
            partition by warehouse_id, sku, counted_at
            order by _snapshot_ts desc, _loaded_at desc
        ) as version_rank
    from source

)

select
    warehouse_id,
    sku,
    quantity,
    counted_at,
    batch_id
from typed
where version_rank = 1
