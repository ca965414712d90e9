-- airlock on Snowflake: one-time setup, run by ACCOUNTADMIN (storage integration) and SECURITYADMIN/SYSADMIN.
-- `airlock warehouse sql --kind snowflake` prints this file with the names filled in.
--
-- 1. The storage integration: Snowflake assumes {iam_role_arn} (infra/terraform/modules/warehouse_access) to
--    read the raw bucket. After creating it, run `desc integration {integration}` and give Terraform its
--    STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID (variables snowflake_iam_user_arn,
--    snowflake_external_id), then `terraform apply`: the role trusts only that principal with that id.
create storage integration if not exists {integration}
    type = external_stage
    storage_provider = 's3'
    enabled = true
    storage_aws_role_arn = '{iam_role_arn}'
    storage_allowed_locations = ('{raw_url}/');

-- 2. The loader's role: uses the stage and the warehouse, and may act as any tenant's role (granted per
--    tenant by tenant.sql); it owns no tenant data.
create role if not exists {loader_role};
create database if not exists {database};
create schema if not exists {database}.{stage_schema};
grant usage on database {database} to role {loader_role};
grant usage on schema {database}.{stage_schema} to role {loader_role};
grant usage on warehouse {warehouse} to role {loader_role};
grant role {loader_role} to user {loader_user};

-- 3. The stage over the raw bucket and the file formats the loader names. The stage's URL is AIRLOCK_RAW_URL.
create stage if not exists {database}.{stage_schema}.{stage}
    url = '{raw_url}/'
    storage_integration = {integration};
grant usage on integration {integration} to role {loader_role};
create file format if not exists {database}.{stage_schema}.AIRLOCK_CSV
    type = csv
    skip_header = 1
    field_optionally_enclosed_by = '"'
    skip_blank_lines = true
    skip_byte_order_mark = true
    encoding = 'UTF8'
    error_on_column_count_mismatch = true;
create file format if not exists {database}.{stage_schema}.AIRLOCK_JSONL
    type = json
    strip_outer_array = false
    skip_byte_order_mark = true;
grant usage on file format {database}.{stage_schema}.AIRLOCK_CSV to role {loader_role};
grant usage on file format {database}.{stage_schema}.AIRLOCK_JSONL to role {loader_role};
