with

source as (

    {{ raw_batch('orders_raw', 'refunds') }}

),

typed as (

    select
        cast(order_id as varchar(64)) as order_id,
        {{ safe_cast('refunded_at', 'timestamp') }} as refunded_at,
        {{ money('amount') }} as refund_amount,
        cast(_batch_id as varchar(64)) as batch_id,
        row_number() over (
            partition by order_id, refunded_at
            order by _snapshot_ts desc, _loaded_at desc
        ) as version_rank
    from source

)

select
    order_id,
    refunded_at,
    refund_amount,
    batch_id
from typed
where version_rank = 1
