{#-
    Tenant isolation: every relation of a run lands in the run's tenant schema,
    `var('tenant_schema')`, or in `<tenant_schema>_<custom>` for a custom schema.
    A model cannot name another tenant's schema: the custom name is always
    appended to the run's own schema, never used on its own, and the result is
    checked against the tenant prefix.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set tenant_schema = airlock_tenant_schema() -%}
    {%- if custom_schema_name is none -%}
        {{ tenant_schema }}
    {%- else -%}
        {%- set custom = custom_schema_name | trim | lower -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]{0,30}$', custom) -%}
            {{ exceptions.raise_compiler_error(
                "custom schema '" ~ custom_schema_name ~ "' of " ~ node.unique_id
                ~ " must be a plain identifier (a-z, 0-9, _): it is appended to the tenant schema"
            ) }}
        {%- endif -%}
        {{ tenant_schema }}_{{ custom }}
    {%- endif -%}
{%- endmacro %}


{#- The run's tenant schema, validated: the one place that reads the var. -#}
{% macro airlock_tenant_schema() -%}
    {%- do airlock_assert_run_vars() -%}
    {%- set tenant_schema = var('tenant_schema') | string | lower -%}
    {%- if not modules.re.match('^[a-z][a-z0-9_]{1,31}$', tenant_schema) -%}
        {{ exceptions.raise_compiler_error(
            "var tenant_schema='" ~ tenant_schema ~ "' is not a valid schema name: "
            ~ "pass the registry's warehouse_schema (e.g. tenant_acme)"
        ) }}
    {%- endif -%}
    {{- return(tenant_schema) -}}
{%- endmacro %}
