{#-
    Raw tables are all VARCHAR (the loader does not guess types). Staging casts
    with `try_cast` where the warehouse has it, so one bad value becomes NULL
    and is caught by a not_null test with a clear message instead of aborting
    the whole model; Postgres and Redshift lack it and cast strictly.
-#}
{% macro safe_cast(expression, data_type) -%}
    {{- return(adapter.dispatch('safe_cast', 'airlock')(expression, data_type)) -}}
{%- endmacro %}

{% macro default__safe_cast(expression, data_type) -%}
    cast(nullif(trim(cast({{ expression }} as varchar)), '') as {{ data_type }})
{%- endmacro %}

{% macro duckdb__safe_cast(expression, data_type) -%}
    try_cast(nullif(trim(cast({{ expression }} as varchar)), '') as {{ data_type }})
{%- endmacro %}

{% macro snowflake__safe_cast(expression, data_type) -%}
    try_cast(nullif(trim(cast({{ expression }} as varchar)), '') as {{ data_type }})
{%- endmacro %}


{#- Money is stored as numeric(18, 2) everywhere: one place to change it. -#}
{% macro money(expression) -%}
    {{ safe_cast(expression, 'numeric(18, 2)') }}
{%- endmacro %}
