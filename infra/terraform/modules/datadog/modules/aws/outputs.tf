output "integration_role_arn" {
  description = "Role for datadog_integration_aws_account (Datadog assumes it with the external id)."
  value       = aws_iam_role.integration.arn
}

output "integration_role_name" {
  description = "Name of the integration role."
  value       = aws_iam_role.integration.name
}

output "api_key_secret_arn" {
  description = "Secrets Manager secret holding the Datadog API key."
  value       = aws_secretsmanager_secret.api_key.arn
}

output "log_delivery_stream_arn" {
  description = "Firehose stream forwarding CloudWatch logs to Datadog."
  value       = aws_kinesis_firehose_delivery_stream.datadog["logs"].arn
}

output "metric_stream_arn" {
  description = "CloudWatch metric stream feeding Datadog."
  value       = aws_cloudwatch_metric_stream.datadog.arn
}
