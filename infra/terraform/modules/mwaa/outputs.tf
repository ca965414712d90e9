output "environment_arn" {
  description = "ARN of the MWAA environment."
  value       = aws_mwaa_environment.this.arn
}

output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "webserver_url" {
  description = "Private web server URL (reachable from inside the VPC only)."
  value       = aws_mwaa_environment.this.webserver_url
}

output "source_bucket_name" {
  description = "Bucket to deploy dags/, requirements.txt and startup.sh into."
  value       = module.source_bucket.id
}

output "execution_role_arn" {
  description = "The environment's execution role (the DAGs' AWS identity)."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the environment."
  value       = aws_security_group.mwaa.id
}

output "airflow_configuration_options" {
  description = "The Airflow options applied (kit defaults merged with overrides)."
  value       = aws_mwaa_environment.this.airflow_configuration_options
}
