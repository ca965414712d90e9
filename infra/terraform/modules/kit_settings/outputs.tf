output "settings" {
  description = "Everything the DAGs need, in the shape airlock.infra.outputs maps to AIRLOCK_* (docs/contracts.md)."
  value       = local.settings
}
