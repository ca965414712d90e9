resource "aws_kms_key" "audit" {
  description             = "${var.name_prefix}: CloudTrail files and audit log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersViaIAM"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudTrailEncryptsThisTrail"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = local.trail_arn }
          StringLike   = { "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*" }
        }
      },
      {
        Sid       = "CloudWatchLogsEncryptsAuditGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/airlock/${var.name_prefix}/*" }
        }
      },
    ]
  })
  tags = var.tags
}

# --- Trail bucket -----------------------------------------------------------------------------
module "trail_bucket" {
  source = "../private_bucket"

  name                   = local.bucket_name
  kms_key_arn            = aws_kms_key.audit.arn
  access_log_bucket_name = var.access_log_bucket_name
  lifecycle_rule_id      = "audit-retention"
  glacier_ir_after_days  = 90
  expiration_days        = var.log_retention_days
  noncurrent_days        = 30
  force_destroy          = var.force_destroy
  tags                   = var.tags
  extra_policy_statements = [
    {
      Sid       = "CloudTrailAclCheck"
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "s3:GetBucketAcl"
      Resource  = local.bucket_arn
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    },
    {
      Sid       = "CloudTrailWrite"
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = "${local.bucket_arn}/AWSLogs/${local.account_id}/*"
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    },
  ]
}

moved {
  from = aws_s3_bucket.trail
  to   = module.trail_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.trail
  to   = module.trail_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.trail
  to   = module.trail_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.trail
  to   = module.trail_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.trail
  to   = module.trail_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.trail
  to   = module.trail_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.trail
  to   = module.trail_bucket.aws_s3_bucket_logging.this
}

moved {
  from = aws_s3_bucket_notification.trail
  to   = module.trail_bucket.aws_s3_bucket_notification.this
}

moved {
  from = aws_s3_bucket_policy.trail
  to   = module.trail_bucket.aws_s3_bucket_policy.this
}

# --- CloudWatch Logs delivery -----------------------------------------------------------------
resource "aws_cloudwatch_log_group" "trail" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.audit.arn
  tags              = var.tags
}

resource "aws_iam_role" "trail_logs" {
  name = "${var.name_prefix}-cloudtrail-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "trail_logs" {
  name = "write-trail-log-group"
  role = aws_iam_role.trail_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "${aws_cloudwatch_log_group.trail.arn}:log-stream:*"
    }]
  })
}

# --- The trail --------------------------------------------------------------------------------
resource "aws_cloudtrail" "this" {
  #checkov:skip=CKV_AWS_252:Alerting on trail delivery goes through the CloudWatch log group and Datadog monitors, not an SNS topic per file.
  name                          = local.trail_name
  s3_bucket_name                = module.trail_bucket.id
  kms_key_id                    = aws_kms_key.audit.arn
  enable_log_file_validation    = true
  is_multi_region_trail         = true
  include_global_service_events = true
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.trail.arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.trail_logs.arn

  event_selector {
    read_write_type           = "All"
    include_management_events = true

    # Object-level events: who put, read or deleted which tenant file, and when.
    data_resource {
      type   = "AWS::S3::Object"
      values = [for arn in var.data_event_bucket_arns : "${arn}/"]
    }
  }

  tags       = var.tags
  depends_on = [module.trail_bucket, aws_iam_role_policy.trail_logs]
}
