module "kit_settings" {
  source       = "../../modules/kit_settings"
  env_name     = var.env_name
  name_prefix  = local.name_prefix
  region       = var.region
  bucket_names = module.landing_zone.bucket_names
  shared_queue = module.landing_zone.shared_queue
  tenants = {
    for id, t in module.tenant : id => {
      queue_name          = t.queue_name
      queue_url           = t.queue_url
      queue_arn           = t.queue_arn
      kms_key_arn         = t.kms_key_arn
      upload_role_arn     = t.upload_role_arn
      processing_role_arn = t.processing_role_arn
    } if !t.offboarded
  }
  ecs = {
    cluster_name           = module.ecs.cluster_name
    task_definition_family = module.ecs.task_definition_family
    container_name         = module.ecs.container_name
    subnet_ids             = module.ecs.subnet_ids
    security_group_ids     = module.ecs.security_group_ids
    log_group_name         = module.ecs.log_group_name
    log_stream_prefix      = module.ecs.log_stream_prefix
    task_role_arns         = module.ecs.task_role_arns
  }
}

output "airlock" {
  description = "The kit's settings object: `airlock infra output --env prod` maps it to AIRLOCK_*."
  value       = module.kit_settings.settings
}

output "bucket_arns" {
  description = "Bucket ARNs (landing, raw, quarantine, access_logs): input of envs/prod-saas."
  value       = module.landing_zone.bucket_arns
}

output "bucket_names" {
  description = "Bucket names by role."
  value       = module.landing_zone.bucket_names
}

output "kms_key_arns" {
  description = "Every tenant key plus the storage and events keys: input of envs/prod-saas (Astro workload role)."
  value       = concat([for t in module.tenant : t.kms_key_arn], [module.landing_zone.storage_kms_key_arn, module.landing_zone.events_kms_key_arn])
}

output "log_group_names" {
  description = "Log groups to forward to Datadog (ECS tasks, CloudTrail)."
  value       = concat([module.ecs.log_group_name], flatten([for a in module.audit : a.log_group_names]))
}

output "mwaa" {
  description = "MWAA environment name, source bucket and web server URL (null when disabled)."
  value = var.enable_mwaa ? {
    environment_name   = module.mwaa[0].environment_name
    source_bucket_name = module.mwaa[0].source_bucket_name
    webserver_url      = module.mwaa[0].webserver_url
  } : null
}

output "warehouse" {
  description = "Warehouse access: the connection secrets to fill (names only), the raw-bucket reader role (Snowflake storage integration / Redshift COPY IAM_ROLE) and the AIRLOCK_* settings it implies."
  value = {
    connection_secret_names = module.warehouse_access.connection_secret_names
    reader_role_arn         = module.warehouse_access.reader_role_arn
    settings                = module.warehouse_access.kit_settings
  }
}

output "tenant_guard" {
  description = "True: every tenant with a KMS key in this env has a registry file. Else the plan fails (a tenant removed without offboarding)."
  value       = module.tenant_guard.ok

  precondition {
    condition     = module.tenant_guard.ok
    error_message = module.tenant_guard.message
  }
}
