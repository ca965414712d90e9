locals {
  name_prefix   = "airlock-${var.env_name}"
  repo_root     = "${path.module}/../../../.."
  tenants_dir   = "${local.repo_root}/dags/registry/tenants"
  dataflows_dir = "${local.repo_root}/dags/registry/dataflows"
  tags          = merge(var.tags, { "airlock:env" = var.env_name, "airlock:managed-by" = "terraform" })
}

module "registry" {
  source        = "../../modules/registry"
  tenants_dir   = local.tenants_dir
  dataflows_dir = local.dataflows_dir
}

module "tenant" {
  source   = "../../modules/tenant"
  for_each = module.registry.keyed_tenants # active tenants, and offboarded ones (key only) until erased

  name_prefix           = local.name_prefix
  tenant_id             = each.key
  isolation_tier        = each.value.isolation_tier
  offboarded            = each.value.offboarded
  landing_bucket_arn    = module.landing_zone.bucket_arns.landing
  raw_bucket_arn        = module.landing_zone.bucket_arns.raw
  storage_kms_key_arn   = module.landing_zone.storage_kms_key_arn
  upload_principal_arns = lookup(var.tenant_upload_principals, each.key, [])
}

module "landing_zone" {
  source = "../../modules/landing_zone"

  name_prefix           = local.name_prefix
  raw_retention_days    = var.raw_retention_days
  tenant_kms_keys       = { for id, t in module.tenant : id => t.kms_key_arn }
  tenant_retention_days = { for id, t in module.registry.keyed_tenants : id => t.retention_days if t.retention_days != null }
  dedicated_tenants     = sort([for id, t in module.tenant : id if t.isolation_tier == "dedicated" && !t.offboarded])
}

module "ecs" {
  source = "../../modules/ecs"

  name_prefix        = local.name_prefix
  image              = var.transform_image
  ecr_repository_arn = var.ecr_repository_arn
  vpc_id             = var.vpc_id
  subnet_ids         = var.private_subnet_ids
  task_role_arns     = { for id, t in module.tenant : id => t.processing_role_arn if !t.offboarded }
}

module "audit" {
  source = "../../modules/audit"
  count  = var.enable_audit ? 1 : 0

  name_prefix            = local.name_prefix
  data_event_bucket_arns = [module.landing_zone.bucket_arns.landing, module.landing_zone.bucket_arns.raw]
  access_log_bucket_name = module.landing_zone.bucket_names.access_logs
}

module "warehouse_access" {
  source = "../../modules/warehouse_access"

  name_prefix            = local.name_prefix
  warehouse              = var.warehouse
  secret_prefix          = "airlock/${var.env_name}"
  tenant_ids             = var.warehouse_tenant_connections ? toset(keys(module.registry.tenants)) : toset([])
  raw_bucket_arn         = module.landing_zone.bucket_arns.raw
  storage_kms_key_arn    = module.landing_zone.storage_kms_key_arn
  snowflake_iam_user_arn = var.snowflake_iam_user_arn
  snowflake_external_id  = var.snowflake_external_id
  tags                   = local.tags
}

module "mwaa" {
  source = "../../modules/mwaa"
  count  = var.enable_mwaa ? 1 : 0

  secrets_read_policy_json      = module.warehouse_access.read_secrets_policy_json
  airflow_configuration_options = module.warehouse_access.airflow_secrets_backend_options

  name_prefix            = local.name_prefix
  vpc_id                 = var.vpc_id
  private_subnet_ids     = var.private_subnet_ids
  access_log_bucket_name = module.landing_zone.bucket_names.access_logs
  bucket_arns = {
    landing    = module.landing_zone.bucket_arns.landing
    raw        = module.landing_zone.bucket_arns.raw
    quarantine = module.landing_zone.bucket_arns.quarantine
  }
  storage_kms_key_arn = module.landing_zone.storage_kms_key_arn
  tenant_kms_key_arns = concat([for t in module.tenant : t.kms_key_arn], [module.landing_zone.events_kms_key_arn])
  ecs = {
    cluster_arn            = module.ecs.cluster_arn
    task_definition_family = module.ecs.task_definition_family
    execution_role_arn     = module.ecs.execution_role_arn
    task_role_arns         = module.ecs.task_role_arns
    log_group_name         = module.ecs.log_group_name
  }
  # The same settings `airlock infra output --env prod` prints, as Airflow options
  # `airlock.<name>` (startup.sh exports them as AIRLOCK_<NAME>).
  kit_settings = {
    for k, v in {
      env                        = var.env_name
      landing_url                = module.kit_settings.settings.landing_url
      raw_url                    = module.kit_settings.settings.raw_url
      quarantine_url             = module.kit_settings.settings.quarantine_url
      shared_queue_url           = module.kit_settings.settings.shared_queue_url
      queue_url_template         = module.kit_settings.settings.queue_url_template
      dedicated_tenants          = join(",", module.kit_settings.settings.dedicated_tenants)
      execution_target           = "aws_ecs"
      ecs_cluster                = module.ecs.cluster_name
      ecs_task_definition        = module.ecs.task_definition_family
      ecs_container              = module.ecs.container_name
      ecs_log_stream_prefix      = "${module.ecs.log_stream_prefix}/${module.ecs.container_name}"
      aws_region                 = var.region
      ecs_subnets                = join(",", module.ecs.subnet_ids)
      ecs_security_groups        = join(",", module.ecs.security_group_ids)
      ecs_log_group              = module.ecs.log_group_name
      ecs_task_role_arn_template = module.kit_settings.settings.ecs.task_role_arn_template
      warehouse                  = module.warehouse_access.kit_settings.warehouse
      redshift_iam_role          = try(module.warehouse_access.kit_settings.redshift_iam_role, null)
    } : k => v if v != null
  }
}

# Two-step guard on tenant keys: a tenant with a key in this env must still have a registry file, in
# tenants/ or in offboarded/ (airlock tenant offboard). The output precondition fails the plan otherwise.
module "tenant_guard" {
  source           = "../../modules/tenant_guard"
  env_name         = var.env_name
  known_tenant_ids = module.registry.known_tenant_ids
}
