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
        'task_id': airlock_node_task_id(node, env_var('AIRFLOW_CTX_TASK_ID', '')),
        'model': node.unique_id if node is not none else none,
        'invocation_id': invocation_id,
    } -%}
    {#- `*/` inside a value would end the comment early: strip it. -#}
    {{- return(tojson(payload) | replace('*/', '')) -}}
{%- endmacro %}


{#-
    The Airflow task that stands for a node. In WATCHER mode one producer task
    (`<group>.dbt_producer_watcher`) runs the whole `dbt build`, but each model
    has its own task (`<group>.<model>_run`, seeds `_seed`, snapshots
    `_snapshot`), which also stands for the model's tests: the statements of a
    node are attributed to that task, as in the other modes, where the task
    running dbt is already the node's own.
-#}
{% macro airlock_node_task_id(node, task_id) -%}
    {%- set producer = 'dbt_producer_watcher' -%}
    {%- if node is none or not task_id.endswith(producer) -%}
        {{- return(task_id) -}}
    {%- endif -%}
    {%- set group = task_id[:task_id | length - producer | length] -%}
    {%- set suffixes = {'model': 'run', 'seed': 'seed', 'snapshot': 'snapshot'} -%}
    {%- if node.resource_type == 'test' -%}
        {#- a test belongs to its model's task: the model it is attached to, else the first it reads -#}
        {%- set parents = [node.attached_node] if node.attached_node else node.depends_on.nodes -%}
        {%- for parent in parents if parent and parent.startswith('model.') -%}
            {%- if loop.first -%}
                {{- return(group ~ parent.split('.')[-1] ~ '_run') -}}
            {%- endif -%}
        {%- endfor -%}
        {{- return(task_id) -}}
    {%- endif -%}
    {%- if node.resource_type not in suffixes -%}
        {{- return(task_id) -}}
    {%- endif -%}
    {{- return(group ~ node.name ~ '_' ~ suffixes[node.resource_type]) -}}
{%- endmacro %}


{#-
    Snowflake: the session's QUERY_TAG carries the same JSON for each model
    (QUERY_HISTORY.QUERY_TAG), on top of the comment. Overrides dbt-snowflake's
    macros of the same name (dispatched from the `dbt` namespace: the root
    project's come first).
-#}
{% macro snowflake__set_query_tag() -%}
    {%- set original_query_tag = get_current_query_tag() -%}
    {%- set tag = airlock_query_comment(model) | replace('\\', '\\\\') | replace("'", "\\'") -%}
    {% do run_query("alter session set query_tag = '" ~ tag ~ "'") %}
    {{- return(original_query_tag) -}}
{%- endmacro %}

{% macro snowflake__unset_query_tag(original_query_tag) -%}
    {%- if original_query_tag -%}
        {% do run_query("alter session set query_tag = '" ~ (original_query_tag | replace("'", "\\'")) ~ "'") %}
    {%- else -%}
        {% do run_query("alter session unset query_tag") %}
    {%- endif -%}
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
