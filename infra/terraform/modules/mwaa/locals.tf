locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  env_name      = "${var.name_prefix}-airflow"
  env_arn       = "arn:${local.partition}:airflow:${local.region}:${local.account_id}:environment/${local.env_name}"
  source_bucket = "${var.name_prefix}-mwaa-source"

  # The kit's Airflow options: the queue watchers (1 shared + 1 per dedicated tenant) and the
  # WATCHER model tasks share the triggerer (`airlock capacity`); a watcher's message must be stored
  # within its visibility timeout (60 s) or SQS redelivers it.
  kit_options = merge(
    {
      "triggerer.capacity"                  = "1000"
      "triggerer.shared_stream_ack_timeout" = "60"
      "metrics.statsd_on"                   = "true"
      "metrics.statsd_prefix"               = "airflow"
      "metrics.metrics_use_pattern_match"   = "true"
      "metrics.metrics_allow_list"          = "airlock,scheduler,triggerer,dagrun,ti,asset"
      # Cosmos would try to reach its telemetry endpoint from every task.
      "cosmos.enable_telemetry" = "False"
    },
    { for k, v in var.kit_settings : "airlock.${k}" => v },
  )
}
