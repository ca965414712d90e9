with

source as (

    {{ raw_batch('orders_raw', 'customers') }}

),

typed as (

    select
        cast(customer_id as varchar(64)) as customer_id,
        cast(trim(customer_name) as varchar(256)) as customer_name,
        cast(upper(trim(country)) as varchar(2)) as country_code,
        cast(_batch_id as varchar(64)) as batch_id,
        row_number() over (
            partition by customer_id
            order by _snapshot_ts desc, _loaded_at desc
        ) as version_rank
    from source

)

select
    customer_id,
    customer_name,
    country_code,
    batch_id
from typed
where version_rank = 1
