output "astro_deployment_id" {
  description = "Astro deployment id (for `astro deploy`), or null."
  value       = var.enable_astro ? module.astro[0].deployment_id : null
}

output "datadog_monitor_ids" {
  description = "Monitor ids by file name."
  value       = module.datadog.monitor_ids
}
