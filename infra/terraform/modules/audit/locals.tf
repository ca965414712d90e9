locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  trail_name   = "${var.name_prefix}-audit"
  trail_arn    = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
  bucket_name  = "${var.name_prefix}-audit"
  bucket_arn   = "arn:${local.partition}:s3:::${local.bucket_name}"
  log_group    = "/airlock/${var.name_prefix}/cloudtrail"
  account_root = "arn:${local.partition}:iam::${local.account_id}:root"
}
