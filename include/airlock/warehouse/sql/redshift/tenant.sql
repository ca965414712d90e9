-- airlock: tenant {tenant_id} on Amazon Redshift, run once by a superuser.
-- `airlock warehouse sql --kind redshift --tenant {tenant_id}` prints this with the names filled in.
-- The tenant's user owns its schemas; no other tenant's user has any privilege on them. Its Airflow
-- connection `airlock_warehouse_{tenant_id}` logs in as it (password, or IAM: GetClusterCredentials for
-- this db user only); the loader and dbt use that connection.
create user {user} password disable;
create schema if not exists {schema} authorization {user};
create schema if not exists {raw_schema} authorization {user};
revoke all on schema {schema} from public;
revoke all on schema {raw_schema} from public;
-- COPY … IAM_ROLE: this user may have Redshift assume the raw-bucket reader role, for COPY only.
grant assumerole on '{iam_role_arn}' to {user} for copy;
-- dbt builds custom schemas (<schema>_<name>) as the tenant's user.
grant create on database {database} to {user};
