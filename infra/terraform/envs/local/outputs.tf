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
  ecs = var.enable_ecs ? {
    cluster_name           = module.ecs[0].cluster_name
    task_definition_family = module.ecs[0].task_definition_family
    container_name         = module.ecs[0].container_name
    subnet_ids             = module.ecs[0].subnet_ids
    security_group_ids     = module.ecs[0].security_group_ids
    log_group_name         = module.ecs[0].log_group_name
    log_stream_prefix      = module.ecs[0].log_stream_prefix
    task_role_arns         = module.ecs[0].task_role_arns
  } : null
}

output "airlock" {
  description = "The kit's settings object: `airlock infra output` maps it to AIRLOCK_* (see airlock.infra.outputs)."
  value       = module.kit_settings.settings
}

output "aws_endpoint_url" {
  description = "The local endpoint the stack lives on (goes into AIRFLOW_CONN_AWS_DEFAULT's extra)."
  value       = var.endpoint_url
}

output "event_routing" {
  description = "Where landing events go: the shared rule's pattern, and each dedicated tenant's queue URL."
  value = {
    shared_pattern = module.landing_zone.shared_event_pattern
    dedicated      = { for id, t in module.tenant : id => t.queue_url if t.isolation_tier == "dedicated" && !t.offboarded }
  }
}

output "bucket_policies" {
  description = "Bucket policy documents (JSON) by bucket role; on the local endpoint only access_logs is attached (see main.tf)."
  value       = module.landing_zone.bucket_policies
}

output "tenant_guard" {
  description = "True: every tenant with a KMS key in this env has a registry file. Else the plan fails (a tenant removed without offboarding)."
  value       = module.tenant_guard.ok

  precondition {
    condition     = module.tenant_guard.ok
    error_message = module.tenant_guard.message
  }
}
