-- airlock: provision tenant {tenant_id} on PostgreSQL (idempotent).
-- Run by the loader itself where its connection may create roles (local stack, demo), else once by an
-- admin (`airlock warehouse sql --kind postgres --tenant {tenant_id}` prints this with the names filled in).
-- The role owns the tenant's schemas; no other tenant's role has any privilege on them.
do $airlock$
begin
    if not exists (select from pg_roles where rolname = '{role_literal}') then
        create role {role} nologin;
    end if;
    -- The loader's login role may act as the tenant (SET ROLE). Create that login NOINHERIT: without
    -- SET ROLE it then holds no tenant's privileges. A per-tenant login is the role itself.
    if '{loader_literal}' <> '{role_literal}' then
        grant {role} to {loader};
    end if;
end
$airlock$;
-- dbt builds custom schemas (<schema>_<name>) as the tenant's role.
grant create on database {database} to {role};
create schema if not exists {schema} authorization {role};
create schema if not exists {raw_schema} authorization {role};
