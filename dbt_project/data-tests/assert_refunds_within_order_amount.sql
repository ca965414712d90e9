-- A refund never exceeds what the customer paid: more means a duplicated or
-- mis-keyed refund upstream, which would make net revenue negative.
select
    order_id,
    order_amount,
    refund_amount
from {{ ref('fct_orders') }}
where refund_amount > order_amount
