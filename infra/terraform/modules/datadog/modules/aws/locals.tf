locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  logs_intake    = "https://aws-kinesis-http-intake.logs.${var.datadog_site}/v1/input"
  metrics_intake = "https://awsmetrics-intake.${var.datadog_site}/v1/input"
  backup_bucket  = "${var.name_prefix}-datadog-backup"
  streams = {
    logs    = local.logs_intake
    metrics = local.metrics_intake
  }
}
