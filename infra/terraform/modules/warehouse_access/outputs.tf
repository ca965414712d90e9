output "secret_prefix" {
  description = "Secrets Manager prefix of the kit's secrets."
  value       = var.secret_prefix
}

output "connection_secret_names" {
  description = "Secret name per Airflow connection id (empty shells: set their values outside Terraform)."
  value = merge(
    { airlock_warehouse = aws_secretsmanager_secret.warehouse.name },
    { for t, s in aws_secretsmanager_secret.tenant : "airlock_warehouse_${t}" => s.name },
  )
}

output "secrets_kms_key_arn" {
  description = "Key that encrypts the kit's secrets."
  value       = aws_kms_key.secrets.arn
}

output "read_secrets_policy_json" {
  description = "IAM policy that reads the kit's secrets and nothing else (attach to the MWAA execution role)."
  value       = data.aws_iam_policy_document.read_secrets.json
}

output "airflow_secrets_backend_options" {
  description = "Airflow options that make the secrets backend read the kit's connections from Secrets Manager."
  value = {
    "secrets.backend" = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    "secrets.backend_kwargs" = jsonencode({
      connections_prefix = "${var.secret_prefix}/connections"
      variables_prefix   = null
      config_prefix      = null
    })
  }
}

output "reader_role_arn" {
  description = "IAM role the warehouse assumes to read the raw bucket: Snowflake's storage integration (storage_aws_role_arn, sql/snowflake/setup.sql) or Redshift's COPY IAM_ROLE (AIRLOCK_REDSHIFT_IAM_ROLE; attach it to the cluster). Null for local/postgres."
  value       = lookup(local.reader_role_arn, var.warehouse, null)
}

output "kit_settings" {
  description = "AIRLOCK_* settings for the deployment (lowercase, without the prefix)."
  value = {
    for k, v in {
      warehouse         = var.warehouse
      redshift_iam_role = var.warehouse == "redshift" ? local.reader_role_arn.redshift : null
      warehouse_conn_id = "airlock_warehouse"
    } : k => v if v != null
  }
}
