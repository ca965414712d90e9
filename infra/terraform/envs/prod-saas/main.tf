data "terraform_remote_state" "prod" {
  backend = "s3"
  config  = var.prod_state
}

locals {
  name_prefix = "airlock-${var.env_name}"
  prod        = data.terraform_remote_state.prod.outputs
}

module "astro" {
  source = "../../modules/astro"
  count  = var.enable_astro ? 1 : 0

  name_prefix    = local.name_prefix
  region         = var.region
  contact_emails = var.contact_emails
  kit_env        = var.kit_env
  bucket_arns = {
    landing    = local.prod.bucket_arns.landing
    raw        = local.prod.bucket_arns.raw
    quarantine = local.prod.bucket_arns.quarantine
  }
  kms_key_arns = local.prod.kms_key_arns
}

module "event_push" {
  source = "../../modules/event_push"
  count  = var.event_push == null ? 0 : 1

  name_prefix          = local.name_prefix
  landing_bucket_name  = local.prod.bucket_names.landing
  airflow_api_url      = var.event_push.airflow_api_url
  landing_asset_id     = var.event_push.landing_asset_id
  api_token_secret_arn = var.event_push.api_token_secret_arn
}

module "datadog" {
  source = "../../modules/datadog"

  name_prefix            = local.name_prefix
  env_name               = var.env_name
  datadog_site           = var.datadog_site
  api_key                = var.datadog_api_key
  monitors_dir           = "${path.module}/../../../../observability/monitors"
  log_group_names        = local.prod.log_group_names
  access_log_bucket_name = local.prod.bucket_names.access_logs
}
