# Reads the tenant registry with the same rules as include/airlock/tenants.py: one file per tenant,
# the file name is the tenant id, files starting with "_" are drafts. Nothing here creates
# resources: every other module is driven by this map, so onboarding is adding a YAML file.
locals {
  tenant_files   = [for f in fileset(var.tenants_dir, "*.yaml") : f if !startswith(f, "_")]
  dataflow_files = fileset(var.dataflows_dir, "*.yaml")

  raw_tenants = {
    for f in local.tenant_files : trimsuffix(f, ".yaml") => yamldecode(file("${var.tenants_dir}/${f}"))
  }

  dataflows = toset([for f in local.dataflow_files : trimsuffix(f, ".yaml")])

  tenants = {
    for id, t in local.raw_tenants : id => {
      tenant_id        = t.tenant_id
      name             = t.name
      isolation_tier   = try(t.isolation_tier, "standard")
      warehouse_schema = t.warehouse_schema
      dataflows        = sort(keys(t.dataflows))
    }
  }
}

# Same checks as the Python loader, so a bad file fails `plan` with the file named instead of
# creating a queue called after a typo.
resource "terraform_data" "registry_checks" {
  input = keys(local.tenants)

  lifecycle {
    precondition {
      condition     = alltrue([for id, t in local.raw_tenants : try(t.tenant_id, "") == id])
      error_message = "Every dags/registry/tenants/<id>.yaml must say tenant_id: <id>. Mismatched: ${join(", ", [for id, t in local.raw_tenants : id if try(t.tenant_id, "") != id])}."
    }
    precondition {
      condition     = alltrue([for id, _ in local.raw_tenants : can(regex("^[a-z][a-z0-9_]{1,31}$", id))])
      error_message = "Tenant ids become bucket prefixes, queue and role names: lowercase letters, digits and '_', starting with a letter (2-32 chars)."
    }
    precondition {
      condition     = alltrue(flatten([for id, t in local.raw_tenants : [for d in keys(try(t.dataflows, {})) : contains(local.dataflows, d)]]))
      error_message = "A tenant names a dataflow that has no dags/registry/dataflows/<name>.yaml."
    }
  }
}
