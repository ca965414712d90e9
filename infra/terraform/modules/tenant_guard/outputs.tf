output "live_tenant_ids" {
  description = "Tenants with a KMS key in this environment, by its airlock:tenant tag."
  value       = sort(tolist(local.live))
}

output "removed" {
  description = "Tenants with a live key but no registry file, active or offboarded: removed without offboarding."
  value       = local.removed
}

output "ok" {
  description = "True when no tenant was removed without offboarding."
  value       = length(local.removed) == 0
}

output "message" {
  description = "What the env's precondition says when `ok` is false."
  value       = "Tenant(s) ${join(", ", local.removed)} still have a KMS key in env ${var.env_name} but no file in dags/registry/tenants/ or dags/registry/offboarded/: a tenant file was removed without offboarding (a typo in a file name would otherwise schedule the key's deletion). Restore the file, then run `airlock tenant offboard <id>` (docs/operations.md). An erased tenant's file stays in offboarded/ until AWS has deleted its key."
}
