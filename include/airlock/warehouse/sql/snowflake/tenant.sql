-- airlock: tenant {tenant_id} on Snowflake, run once by SECURITYADMIN (roles) and SYSADMIN (schemas).
-- The role owns the tenant's schemas; no other tenant's role has any privilege on them. The loader and dbt
-- sessions run as this role (profiles.yml `role:`), with no secondary roles.
create role if not exists {role};
grant role {role} to role {loader_role};
grant usage on database {database} to role {role};
grant usage on warehouse {warehouse} to role {role};
grant usage on schema {database}.{stage_schema} to role {role};
grant usage on stage {database}.{stage_schema}.{stage} to role {role};
grant usage on file format {database}.{stage_schema}.AIRLOCK_CSV to role {role};
grant usage on file format {database}.{stage_schema}.AIRLOCK_JSONL to role {role};
create schema if not exists {database}.{schema};
create schema if not exists {database}.{raw_schema};
grant ownership on schema {database}.{schema} to role {role} copy current grants;
grant ownership on schema {database}.{raw_schema} to role {role} copy current grants;
-- dbt's custom schemas (<schema>_<name>) are created by the role itself.
grant create schema on database {database} to role {role};
