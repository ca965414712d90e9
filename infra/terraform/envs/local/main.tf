locals {
  name_prefix   = "airlock-${var.env_name}"
  repo_root     = "${path.module}/../../../.."
  tenants_dir   = coalesce(var.tenants_dir, "${local.repo_root}/dags/registry/tenants")
  dataflows_dir = coalesce(var.dataflows_dir, "${local.repo_root}/dags/registry/dataflows")
  tags          = { "airlock:env" = var.env_name, "airlock:managed-by" = "terraform" }
}

module "registry" {
  source        = "../../modules/registry"
  tenants_dir   = local.tenants_dir
  dataflows_dir = local.dataflows_dir
}

module "tenant" {
  source   = "../../modules/tenant"
  for_each = module.registry.keyed_tenants # active tenants, and offboarded ones (key only) until erased

  name_prefix              = local.name_prefix
  tenant_id                = each.key
  isolation_tier           = each.value.isolation_tier
  offboarded               = each.value.offboarded
  landing_bucket_arn       = module.landing_zone.bucket_arns.landing
  raw_bucket_arn           = module.landing_zone.bucket_arns.raw
  storage_kms_key_arn      = module.landing_zone.storage_kms_key_arn
  kms_deletion_window_days = 7
}

module "landing_zone" {
  source = "../../modules/landing_zone"

  name_prefix              = local.name_prefix
  force_destroy            = true
  kms_deletion_window_days = 7
  # moto accepts but does not return EventBridgeConfiguration: every plan would show a diff.
  eventbridge_notifications   = false
  eventbridge_config_readable = false
  # moto applies a bucket policy's Deny statements but ignores their conditions, so the TLS-only
  # and SSE-KMS denies would refuse every object write. tests/infra evaluates the same documents
  # (output bucket_policies) with a real IAM evaluator instead.
  attach_data_bucket_policies = false
  tenant_kms_keys             = { for id, t in module.tenant : id => t.kms_key_arn }
  tenant_retention_days       = { for id, t in module.registry.keyed_tenants : id => t.retention_days if t.retention_days != null }
  dedicated_tenants           = sort([for id, t in module.tenant : id if t.isolation_tier == "dedicated" && !t.offboarded])
}

# A small VPC of its own: ECS tasks need subnets, and the local endpoint's default VPC is not
# something the kit should depend on.
resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Throwaway VPC on a local AWS endpoint (moto) that carries no traffic; prod uses the platform team's VPC, whose flow logs it owns.
  count      = var.enable_ecs ? 1 : 0
  cidr_block = "10.42.0.0/16"
}

resource "aws_default_security_group" "this" {
  count  = var.enable_ecs ? 1 : 0
  vpc_id = aws_vpc.this[0].id
}

resource "aws_subnet" "private" {
  count             = var.enable_ecs ? 2 : 0
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = cidrsubnet("10.42.0.0/16", 8, count.index)
  availability_zone = "${var.region}${["a", "b"][count.index]}"
}

module "ecs" {
  source = "../../modules/ecs"
  count  = var.enable_ecs ? 1 : 0

  name_prefix    = local.name_prefix
  image          = "airlock/dbt:local"
  vpc_id         = aws_vpc.this[0].id
  subnet_ids     = aws_subnet.private[*].id
  task_role_arns = { for id, t in module.tenant : id => t.processing_role_arn if !t.offboarded }
}

module "audit" {
  source = "../../modules/audit"
  count  = var.enable_audit ? 1 : 0

  name_prefix            = local.name_prefix
  data_event_bucket_arns = [module.landing_zone.bucket_arns.landing, module.landing_zone.bucket_arns.raw]
  access_log_bucket_name = module.landing_zone.bucket_names.access_logs
  force_destroy          = true
}

# Two-step guard on tenant keys: a tenant with a key in this env must still have a registry file, in
# tenants/ or in offboarded/ (airlock tenant offboard). The output precondition fails the plan otherwise.
module "tenant_guard" {
  source           = "../../modules/tenant_guard"
  env_name         = var.env_name
  known_tenant_ids = module.registry.known_tenant_ids
}
