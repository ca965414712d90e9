output "monitor_ids" {
  description = "Monitor ids by file name (observability/monitors/<name>.json)."
  value       = { for k, m in datadog_monitor.this : k => m.id }
}

output "integration_role_arn" {
  description = "Role Datadog assumes."
  value       = module.aws.integration_role_arn
}

output "api_key_secret_arn" {
  description = "Secret holding the Datadog API key."
  value       = module.aws.api_key_secret_arn
}

output "metric_stream_arn" {
  description = "CloudWatch metric stream feeding Datadog."
  value       = module.aws.metric_stream_arn
}
