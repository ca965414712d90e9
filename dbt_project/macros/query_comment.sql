{#-
    Cost attribution: a JSON comment appended to every statement dbt sends.
    The Airflow context comes from the AIRFLOW_CTX_* variables Cosmos sets for
    each task; the tenant, dataflow and batch from the run vars. Warehouses keep
    the comment in their query history (DuckDB query log, pg_stat_statements,
    Snowflake QUERY_HISTORY, Redshift SYS_QUERY_HISTORY).
-#}
{% macro airlock_query_comment(node) -%}
    {%- set payload = {
        'app': 'airlock',
        'tenant_id': var('tenant_id', none),
        'dataflow': var('dataflow', none),
        'batch_id': var('batch_id', none),
        'dag_id': env_var('AIRFLOW_CTX_DAG_ID', ''),
        'run_id': env_var('AIRFLOW_CTX_DAG_RUN_ID', ''),
        'task_id': env_var('AIRFLOW_CTX_TASK_ID', ''),
        'model': node.unique_id if node is not none else none,
        'invocation_id': invocation_id,
    } -%}
    {#- `*/` inside a value would end the comment early: strip it. -#}
    {{- return(tojson(payload) | replace('*/', '')) -}}
{%- endmacro %}


{#-
    DuckDB keeps its query log in memory: copy this run's entries (those that
    carry our comment) into `<tenant_schema>_audit.query_log` before the
    connection closes. Other warehouses keep their own history; nothing to do.
-#}
{% macro airlock_persist_query_log() -%}
    {{- return(adapter.dispatch('airlock_persist_query_log', 'airlock')()) -}}
{%- endmacro %}

{% macro default__airlock_persist_query_log() -%}
    select 1 as airlock_query_log_noop
{%- endmacro %}

{% macro duckdb__airlock_persist_query_log() -%}
    {%- if execute -%}
        {%- set audit = airlock_tenant_schema() ~ '_audit' -%}
        create schema if not exists {{ audit }};
        create table if not exists {{ audit }}.query_log (
            invocation_id varchar,
            logged_at timestamp with time zone,
            query_text varchar
        );
        insert into {{ audit }}.query_log
        select
            '{{ invocation_id }}' as invocation_id,
            l.timestamp as logged_at,
            l.message as query_text
        from duckdb_logs as l
        where
            l.type = 'QueryLog'
            and l.message like '%"invocation_id": "{{ invocation_id }}"%'
            and l.message not like '%from duckdb_logs%'
    {%- else -%}
        select 1 as airlock_query_log_noop
    {%- endif -%}
{%- endmacro %}
