output "astro_deployment_id" {
  description = "Astro deployment id (for `astro deploy`), or null."
  value       = var.enable_astro ? module.astro[0].deployment_id : null
}

output "datadog_monitor_ids" {
  description = "Monitor ids by file name."
  value       = module.datadog.monitor_ids
}

output "event_push" {
  description = "The push path's rule, API destination and DLQ (null when event_push is off)."
  value = var.event_push == null ? null : {
    rule_arn            = module.event_push[0].rule_arn
    api_destination_arn = module.event_push[0].api_destination_arn
    dlq_url             = module.event_push[0].dlq_url
  }
}
