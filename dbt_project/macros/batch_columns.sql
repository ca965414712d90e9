{#-
    Lineage columns every mart carries, so a row can be traced to the batch
    and run that last wrote it (and cost-attributed without the query log).
-#}
{% macro airlock_batch_columns() -%}
    cast('{{ var("tenant_id") }}' as varchar(64)) as _tenant_id,
    cast('{{ var("batch_id") }}' as varchar(64)) as _batch_id,
    cast('{{ invocation_id }}' as varchar(64)) as _dbt_invocation_id
{%- endmacro %}
