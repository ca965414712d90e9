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
      retention_days   = try(t.retention_days, null)
      dataflows        = sort(keys(t.dataflows))
    }
  }

  # Tenants that left (`airlock tenant offboard` moved their file here): Terraform keeps their KMS key, so
  # their snapshots stay readable, and their retention rules, until `airlock tenant erase` marks them erased.
  offboarded_dir   = coalesce(var.offboarded_dir, "${var.tenants_dir}/../offboarded")
  offboarded_files = [for f in fileset(local.offboarded_dir, "*.yaml") : f if !startswith(f, "_")]
  raw_offboarded = {
    for f in local.offboarded_files : trimsuffix(f, ".yaml") => yamldecode(file("${local.offboarded_dir}/${f}"))
  }
  offboarded = {
    for id, t in local.raw_offboarded : id => {
      tenant_id      = id
      retention_days = try(t.retention_days, null)
      erased         = try(t.offboarded.erased, null) != null
      offboarded_at  = try(t.offboarded.at, null)
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
    precondition {
      condition     = alltrue([for id, t in merge(local.raw_tenants, local.raw_offboarded) : try(t.retention_days, null) == null || try(t.retention_days >= 1 && t.retention_days <= 3650 && floor(t.retention_days) == t.retention_days, false)])
      error_message = "retention_days is a whole number of days, 1-3650."
    }
    precondition {
      condition     = length(setintersection(keys(local.raw_tenants), keys(local.raw_offboarded))) == 0
      error_message = "Tenant(s) ${join(", ", setintersection(keys(local.raw_tenants), keys(local.raw_offboarded)))} are both active and offboarded: keep one file, in tenants/ or in offboarded/."
    }
  }
}
