resource "astro_workspace" "this" {
  name                  = var.workspace_name
  description           = "airlock: multi-tenant dbt pipelines (${var.name_prefix})"
  cicd_enforced_default = true
}

resource "astro_deployment" "this" {
  name                           = var.name_prefix
  description                    = "airlock DAGs for ${var.name_prefix}"
  type                           = "STANDARD"
  cloud_provider                 = "AWS"
  region                         = var.region
  workspace_id                   = astro_workspace.this.id
  original_astro_runtime_version = var.runtime_version
  contact_emails                 = var.contact_emails
  executor                       = "CELERY"
  scheduler_size                 = var.scheduler_size
  is_cicd_enforced               = true
  is_dag_deploy_enabled          = true
  is_development_mode            = false
  is_high_availability           = true
  default_task_pod_cpu           = "0.25"
  default_task_pod_memory        = "0.5Gi"
  resource_quota_cpu             = "10"
  resource_quota_memory          = "20Gi"

  # The DAGs read their settings from the environment only (airlock.settings): the same
  # AIRLOCK_* map as every other target, plus the AWS connection through the workload role.
  environment_variables = concat(
    [for k, v in var.kit_env : { key = k, value = v, is_secret = false }],
    [
      { key = "AIRLOCK_EXECUTION_TARGET", value = "kubernetes", is_secret = false },
      # A queue watcher's message must be stored within its visibility timeout (60 s, docs/deploy.md).
      { key = "AIRFLOW__TRIGGERER__SHARED_STREAM_ACK_TIMEOUT", value = "60", is_secret = false },
      {
        key       = "AIRFLOW_CONN_AWS_DEFAULT"
        value     = jsonencode({ conn_type = "aws", extra = { role_arn = local.workload_role_arn, region_name = var.region } })
        is_secret = false
      },
    ],
  )

  worker_queues = [{
    name               = "default"
    is_default         = true
    astro_machine      = "A5"
    min_worker_count   = 1
    max_worker_count   = 10
    worker_concurrency = 5
  }]
}

locals {
  # Known before the role exists (names are deterministic): the deployment and the role refer to
  # each other, and this breaks the cycle.
  workload_role_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${var.name_prefix}-astro-workload"
}

module "workload_role" {
  source                = "./modules/workload_role"
  name_prefix           = var.name_prefix
  workload_identity_arn = astro_deployment.this.workload_identity
  bucket_arns           = var.bucket_arns
  kms_key_arns          = var.kms_key_arns
  tags                  = var.tags
}

resource "astro_notification_channel" "email" {
  name        = "${var.name_prefix}-email"
  type        = "EMAIL"
  entity_type = "DEPLOYMENT"
  entity_id   = astro_deployment.this.id
  definition = {
    recipients = var.contact_emails
  }
}

resource "astro_alert" "dag_failure" {
  name                     = "${var.name_prefix} DAG failure"
  type                     = "DAG_FAILURE"
  severity                 = "CRITICAL"
  entity_type              = "DEPLOYMENT"
  entity_id                = astro_deployment.this.id
  notification_channel_ids = [astro_notification_channel.email.id]
  rules = {
    properties = {
      deployment_id = astro_deployment.this.id
    }
    pattern_matches = [{
      entity_type   = "DAG_ID"
      operator_type = "IS"
      values        = var.dag_failure_alert_dag_ids
    }]
  }
}

resource "astro_alert" "process_failure" {
  name                     = "${var.name_prefix} processing failure"
  type                     = "DAG_FAILURE"
  severity                 = "WARNING"
  entity_type              = "DEPLOYMENT"
  entity_id                = astro_deployment.this.id
  notification_channel_ids = [astro_notification_channel.email.id]
  rules = {
    properties = {
      deployment_id = astro_deployment.this.id
    }
    pattern_matches = [{
      entity_type   = "DAG_ID"
      operator_type = "INCLUDES"
      values        = ["process_"]
    }]
  }
}
