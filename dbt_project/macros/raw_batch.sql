{#-
    The rows of one batch of a raw table: what every staging model reads.
    Raw tables keep the batches loaded within the retention (docs/contracts.md,
    "Raw tables"), so a model must never read a raw table whole: it would mix
    batches. `var('batch_id')` is the run's batch (the processing DAG passes it).
    The analysts' sample loop (`load_samples: true`) reads every sample batch.
-#}
{% macro raw_batch(source_name, table_name) -%}
    select * from {{ source(source_name, table_name) }}
    {%- if not (var('load_samples', false) | as_bool) %}
    where _batch_id = '{{ airlock_batch_id() }}'
    {%- endif %}
{%- endmacro %}


{#- The run's batch id, validated (it is written into SQL as a literal). -#}
{% macro airlock_batch_id() -%}
    {%- set batch_id = var('batch_id') | string -%}
    {%- if not modules.re.match('^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', batch_id) -%}
        {{ exceptions.raise_compiler_error(
            "var batch_id='" ~ batch_id ~ "' is not a batch id (letters, digits, . _ -; 64 at most)"
        ) }}
    {%- endif -%}
    {{- return(batch_id) -}}
{%- endmacro %}
