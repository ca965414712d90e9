with

source as (

    {{ raw_batch('orders_raw', 'orders') }}

),

typed as (

    select
        cast(order_id as varchar(64)) as order_id,
        cast(customer_id as varchar(64)) as customer_id,
        {{ safe_cast('ordered_at', 'timestamp') }} as ordered_at,
        {{ money('amount') }} as order_amount,
        cast(_batch_id as varchar(64)) as batch_id,
        cast(_snapshot_ts as varchar(32)) as snapshot_ts,
        row_number() over (
            partition by order_id
            order by _snapshot_ts desc, _loaded_at desc
        ) as version_rank
    from source

)

select
    order_id,
    customer_id,
    ordered_at,
    order_amount,
    batch_id,
    snapshot_ts
from typed
where version_rank = 1
