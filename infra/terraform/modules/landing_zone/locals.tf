locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  bucket_names = {
    landing     = "${var.name_prefix}-landing"
    raw         = "${var.name_prefix}-raw"
    quarantine  = "${var.name_prefix}-quarantine"
    access_logs = "${var.name_prefix}-access-logs"
  }

  # Data buckets are SSE-KMS and log to the access-logs bucket; the access-logs bucket itself
  # cannot be either (S3 server access logging only delivers to SSE-S3 targets, and a bucket
  # logging into itself loops).
  data_buckets = {
    landing    = aws_s3_bucket.landing
    raw        = aws_s3_bucket.raw
    quarantine = aws_s3_bucket.quarantine
  }
  all_buckets = merge(local.data_buckets, { access_logs = aws_s3_bucket.access_logs })

  # Deny statements name `{ AWS = "*" }` (equivalent to "*" for a Deny) because moto's bucket
  # logging check crashes on a string Principal in the target bucket's policy.
  deny_insecure_transport = {
    for k, b in local.all_buckets : k => {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "s3:*"
      Resource  = [b.arn, "${b.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
  }

  # Events: names as in airlock.devstack.local_aws; tenant ids have no '-', so "shared" cannot clash.
  shared_queue_name  = "${var.name_prefix}-shared-landing"
  shared_rule_name   = "${var.name_prefix}-landing-shared"
  dedicated_prefixes = sort([for id in var.dedicated_tenants : "${id}/"])
  # Same pattern as airlock.triggers.routing.shared_pattern (tests/infra compares them).
  shared_event_pattern = {
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = merge(
      { bucket = { name = [local.bucket_names.landing] } },
      length(local.dedicated_prefixes) > 0 ? { object = { key = [{ "anything-but" = { prefix = local.dedicated_prefixes } }] } } : {},
    )
  }
}
