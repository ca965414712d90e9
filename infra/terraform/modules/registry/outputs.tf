output "tenants" {
  description = "Registered tenants keyed by tenant_id: name, isolation_tier, warehouse_schema, retention_days (null: the environment's), dataflows (sorted)."
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

output "offboarded" {
  description = "Offboarded tenants keyed by tenant_id: retention_days, erased (true once `airlock tenant erase` shredded the key), offboarded_at."
  value       = local.offboarded
}

output "known_tenant_ids" {
  description = "Every tenant the registry still accounts for, active or offboarded: a live tenant key outside this set was removed without offboarding."
  value       = sort(concat(keys(local.tenants), keys(local.offboarded)))
}

output "keyed_tenants" {
  description = "The tenants that keep a KMS key: the active ones and the offboarded ones not erased yet; `offboarded` says which."
  value = merge(
    { for id, t in local.tenants : id => { offboarded = false, retention_days = t.retention_days, isolation_tier = t.isolation_tier } },
    { for id, t in local.offboarded : id => { offboarded = true, retention_days = t.retention_days, isolation_tier = "standard" } if !t.erased },
  )
}
