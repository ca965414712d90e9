{#-
    A run must say whose data it is. Outside the analysts' `local` target the
    four run vars are mandatory, so a misconfigured task fails before it writes
    anything instead of writing into the `dev` schema. The check runs while
    dbt resolves schema names (parse time, before dbt creates any schema) via
    airlock_tenant_schema(), and again as the on-run-start hook.
-#}
{% macro airlock_assert_run_vars() -%}
    {%- if target.name != 'local' -%}
        {%- for name in ['tenant_id', 'tenant_schema', 'dataflow', 'batch_id'] -%}
            {%- if var(name, none) in [none, '', 'dev', 'all', 'local'] -%}
                {{ exceptions.raise_compiler_error(
                    "dbt var '" ~ name ~ "' is missing on target '" ~ target.name
                    ~ "': the processing DAG passes it from the claim task"
                ) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as airlock_run_guard
{%- endmacro %}
