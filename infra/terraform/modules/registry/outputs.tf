output "tenants" {
  description = "Registered tenants keyed by tenant_id: name, isolation_tier, warehouse_schema, dataflows (sorted)."
  value       = local.tenants
}

output "tenant_ids" {
  description = "Sorted tenant ids: the keys every per-tenant for_each uses."
  value       = sort(keys(local.tenants))
}

output "dataflows" {
  description = "Registered dataflow names."
  value       = sort(tolist(local.dataflows))
}
