locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  name      = "${var.name_prefix}-${var.tenant_id}"
  dedicated = var.isolation_tier == "dedicated"
  # An offboarded tenant keeps its key (and nothing else): its snapshots stay readable until erased.
  active = !var.offboarded
  prefix = "${var.tenant_id}/"
  tags   = merge(var.tags, { "airlock:tenant" = var.tenant_id })

  account_root     = "arn:${local.partition}:iam::${local.account_id}:root"
  upload_trustees  = length(var.upload_principal_arns) > 0 ? var.upload_principal_arns : [local.account_root]
  s3_via_service   = "s3.${local.region}.amazonaws.com"
  landing_tenant   = "${var.landing_bucket_arn}/${var.tenant_id}/*"
  raw_tenant       = "${var.raw_bucket_arn}/${var.tenant_id}/*"
  prefix_condition = [local.prefix, "${local.prefix}*"]

  landing_bucket_name = split(":::", var.landing_bucket_arn)[1]
  # Same pattern as airlock.triggers.routing.dedicated_pattern (tests/infra compares them).
  event_pattern = {
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [local.landing_bucket_name] }
      object = { key = [{ prefix = local.prefix }] }
    }
  }
}
