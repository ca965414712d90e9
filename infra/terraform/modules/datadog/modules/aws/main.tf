# Datadog's AWS side: the integration role Datadog assumes to crawl metadata, log forwarding by
# Firehose to the Datadog intake (no Lambda to patch), a CloudWatch metric stream, and the API key
# in Secrets Manager. Everything here is plain AWS, so it is validated offline; the monitors that
# need the DataDog provider live in the parent module.

resource "aws_kms_key" "datadog" {
  description             = "${var.name_prefix}: Datadog API key, delivery streams and backups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersViaIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

# --- API key ----------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "api_key" {
  #checkov:skip=CKV2_AWS_57:Datadog API keys are rotated in Datadog (org settings), not by a Secrets Manager rotation Lambda; the new key is written here by the same change.
  name                    = "${var.name_prefix}/datadog/api-key"
  description             = "Datadog API key used by the Firehose delivery streams"
  kms_key_id              = aws_kms_key.datadog.arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "api_key" {
  count         = var.api_key == null ? 0 : 1
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = var.api_key
}

# --- Integration role -------------------------------------------------------------------------
resource "aws_iam_role" "integration" {
  name = "${var.name_prefix}-datadog-integration"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${var.datadog_aws_account_id}:root" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = var.external_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "integration" {
  #checkov:skip=CKV_AWS_355:Datadog's integration crawls metadata with List/Describe/Get actions that have no resource-level permissions; every action is read-only (Datadog's documented minimal set for the services airlock uses).
  #checkov:skip=CKV_AWS_288:Read-only metadata actions (tags, descriptions); no object data is readable: s3:GetObject is not granted.
  name = "datadog-read-metadata"
  role = aws_iam_role.integration.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ReadOnlyMetadata"
      Effect = "Allow"
      Action = [
        "cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "cloudwatch:Describe*",
        "ecs:Describe*", "ecs:List*",
        "logs:DescribeLogGroups", "logs:DescribeSubscriptionFilters",
        "s3:GetBucketTagging", "s3:ListAllMyBuckets",
        "sqs:ListQueues", "sqs:ListQueueTags",
        "airflow:ListEnvironments", "airflow:GetEnvironment",
        "tag:GetResources", "tag:GetTagKeys", "tag:GetTagValues",
      ]
      Resource = "*"
    }]
  })
}

# --- Backup bucket for failed deliveries ------------------------------------------------------
module "backup_bucket" {
  source = "../../../private_bucket"

  name                   = local.backup_bucket
  kms_key_arn            = aws_kms_key.datadog.arn
  access_log_bucket_name = var.access_log_bucket_name
  lifecycle_rule_id      = "expire-backups"
  expiration_days        = var.backup_retention_days
  noncurrent_days        = 7
  tags                   = var.tags
}

moved {
  from = aws_s3_bucket.backup
  to   = module.backup_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.backup
  to   = module.backup_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.backup
  to   = module.backup_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.backup
  to   = module.backup_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.backup
  to   = module.backup_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.backup
  to   = module.backup_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.backup
  to   = module.backup_bucket.aws_s3_bucket_logging.this
}

moved {
  from = aws_s3_bucket_notification.backup
  to   = module.backup_bucket.aws_s3_bucket_notification.this
}

moved {
  from = aws_s3_bucket_policy.backup
  to   = module.backup_bucket.aws_s3_bucket_policy.this
}

# --- Firehose delivery streams (logs and metrics) ---------------------------------------------
resource "aws_iam_role" "firehose" {
  name = "${var.name_prefix}-datadog-firehose"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "firehose.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "firehose" {
  name = "backup-and-secret"
  role = aws_iam_role.firehose.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteBackups"
        Effect   = "Allow"
        Action   = ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"]
        Resource = [module.backup_bucket.arn, "${module.backup_bucket.arn}/*"]
      },
      {
        Sid      = "ReadApiKey"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = aws_secretsmanager_secret.api_key.arn
      },
      {
        Sid      = "UseKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.datadog.arn
      },
    ]
  })
}

resource "aws_kinesis_firehose_delivery_stream" "datadog" {
  for_each    = local.streams
  name        = "${var.name_prefix}-datadog-${each.key}"
  destination = "http_endpoint"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = aws_kms_key.datadog.arn
  }

  http_endpoint_configuration {
    url                = each.value
    name               = "Datadog ${each.key}"
    role_arn           = aws_iam_role.firehose.arn
    s3_backup_mode     = "FailedDataOnly"
    buffering_size     = 4
    buffering_interval = 60
    retry_duration     = 60

    secrets_manager_configuration {
      enabled    = true
      secret_arn = aws_secretsmanager_secret.api_key.arn
      role_arn   = aws_iam_role.firehose.arn
    }

    s3_configuration {
      role_arn           = aws_iam_role.firehose.arn
      bucket_arn         = module.backup_bucket.arn
      prefix             = "${each.key}/"
      compression_format = "GZIP"
      kms_key_arn        = aws_kms_key.datadog.arn
    }

    request_configuration {
      content_encoding = "GZIP"
    }
  }

  tags = var.tags
}

# --- Log subscriptions ------------------------------------------------------------------------
resource "aws_iam_role" "logs_to_firehose" {
  name = "${var.name_prefix}-datadog-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringLike = { "aws:SourceArn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:*" } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "logs_to_firehose" {
  name = "put-records"
  role = aws_iam_role.logs_to_firehose.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      Resource = aws_kinesis_firehose_delivery_stream.datadog["logs"].arn
    }]
  })
}

resource "aws_cloudwatch_log_subscription_filter" "datadog" {
  for_each        = toset(var.log_group_names)
  name            = "datadog"
  log_group_name  = each.value
  filter_pattern  = ""
  destination_arn = aws_kinesis_firehose_delivery_stream.datadog["logs"].arn
  role_arn        = aws_iam_role.logs_to_firehose.arn
}

# --- Metric stream ----------------------------------------------------------------------------
resource "aws_iam_role" "metric_stream" {
  name = "${var.name_prefix}-datadog-metric-stream"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "streams.metrics.cloudwatch.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "metric_stream" {
  name = "put-records"
  role = aws_iam_role.metric_stream.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      Resource = aws_kinesis_firehose_delivery_stream.datadog["metrics"].arn
    }]
  })
}

resource "aws_cloudwatch_metric_stream" "datadog" {
  name          = "${var.name_prefix}-datadog"
  role_arn      = aws_iam_role.metric_stream.arn
  firehose_arn  = aws_kinesis_firehose_delivery_stream.datadog["metrics"].arn
  output_format = "opentelemetry1.0"

  dynamic "include_filter" {
    for_each = toset(var.metric_namespaces)
    content {
      namespace = include_filter.value
    }
  }

  tags = var.tags
}
