data "aws_caller_identity" "current" {}

resource "datadog_integration_aws_external_id" "this" {}

module "aws" {
  source                 = "./modules/aws"
  name_prefix            = var.name_prefix
  datadog_site           = var.datadog_site
  external_id            = datadog_integration_aws_external_id.this.id
  api_key                = var.api_key
  log_group_names        = var.log_group_names
  access_log_bucket_name = var.access_log_bucket_name
  tags                   = var.tags
}

resource "datadog_integration_aws_account" "this" {
  aws_account_id = data.aws_caller_identity.current.account_id
  aws_partition  = "aws"

  aws_regions {
    include_all = true
  }

  auth_config {
    aws_auth_config_role {
      role_name   = module.aws.integration_role_name
      external_id = datadog_integration_aws_external_id.this.id
    }
  }

  # Logs arrive through Firehose (module.aws), not a Lambda forwarder.
  logs_config {
    lambda_forwarder {}
  }

  # Metrics arrive through the CloudWatch metric stream; polling stays for metadata only.
  metrics_config {
    automute_enabled = true
    namespace_filters {}
  }

  resources_config {}

  traces_config {
    xray_services {}
  }
}

# Monitors as code: observability/monitors/*.json in Datadog API monitor format. Fields the API
# format has are mapped one to one; the env tag is added so the same file serves every env.
resource "datadog_monitor" "this" {
  for_each = local.monitors

  name                = each.value.name
  type                = each.value.type
  query               = each.value.query
  message             = try(each.value.message, "")
  priority            = try(each.value.priority, null)
  tags                = distinct(concat(try(each.value.tags, []), ["env:${var.env_name}", "managed-by:terraform"]))
  notify_no_data      = try(each.value.options.notify_no_data, false)
  no_data_timeframe   = try(each.value.options.no_data_timeframe, null)
  renotify_interval   = try(each.value.options.renotify_interval, null)
  evaluation_delay    = try(each.value.options.evaluation_delay, null)
  new_group_delay     = try(each.value.options.new_group_delay, null)
  include_tags        = try(each.value.options.include_tags, true)
  require_full_window = try(each.value.options.require_full_window, null)
  notify_audit        = try(each.value.options.notify_audit, false)
  timeout_h           = try(each.value.options.timeout_h, null)

  dynamic "monitor_thresholds" {
    for_each = can(each.value.options.thresholds) ? [each.value.options.thresholds] : []
    content {
      critical          = try(monitor_thresholds.value.critical, null)
      critical_recovery = try(monitor_thresholds.value.critical_recovery, null)
      warning           = try(monitor_thresholds.value.warning, null)
      warning_recovery  = try(monitor_thresholds.value.warning_recovery, null)
      ok                = try(monitor_thresholds.value.ok, null)
      unknown           = try(monitor_thresholds.value.unknown, null)
    }
  }
}
