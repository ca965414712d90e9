# ---------------------------------------------------------------------------------------------
# Key: MWAA metadata, its Celery queues, its logs, and the source bucket.
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "mwaa" {
  description             = "${local.env_name}: environment, source bucket and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersViaIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsAirflowLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${local.env_name}-*" }
        }
      },
    ]
  })
  tags = var.tags
}

# ---------------------------------------------------------------------------------------------
# Source bucket (MWAA requires versioning). Holds dags/ (with the airlock package inside, since
# MWAA syncs only dags/), requirements.txt and startup.sh.
# ---------------------------------------------------------------------------------------------
module "source_bucket" {
  source = "../private_bucket"

  name                   = local.source_bucket
  kms_key_arn            = aws_kms_key.mwaa.arn
  access_log_bucket_name = var.access_log_bucket_name
  lifecycle_rule_id      = "old-deploys"
  noncurrent_days        = 30 # a few weeks of previous versions, so a bad deploy can be rolled back
  tags                   = var.tags
}

moved {
  from = aws_s3_bucket.source
  to   = module.source_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.source
  to   = module.source_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.source
  to   = module.source_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.source
  to   = module.source_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.source
  to   = module.source_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.source
  to   = module.source_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.source
  to   = module.source_bucket.aws_s3_bucket_logging.this
}

moved {
  from = aws_s3_bucket_notification.source
  to   = module.source_bucket.aws_s3_bucket_notification.this
}

moved {
  from = aws_s3_bucket_policy.source
  to   = module.source_bucket.aws_s3_bucket_policy.this
}

# ---------------------------------------------------------------------------------------------
# Network: components talk to each other inside the group; out only over HTTPS.
# ---------------------------------------------------------------------------------------------
resource "aws_security_group" "mwaa" {
  name        = local.env_name
  description = "MWAA ${local.env_name}: self-referencing, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  description                  = "MWAA components (scheduler, workers, web server, metadata DB) reach each other"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.mwaa.id
}

resource "aws_vpc_security_group_egress_rule" "self" {
  security_group_id            = aws_security_group.mwaa.id
  description                  = "MWAA components reach each other"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.mwaa.id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.mwaa.id
  description       = "HTTPS to AWS APIs (S3, SQS, ECS, logs) through NAT or VPC endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# ---------------------------------------------------------------------------------------------
# Execution role: what MWAA itself requires, plus exactly what the kit's DAGs do.
# ---------------------------------------------------------------------------------------------
resource "aws_iam_role" "execution" {
  name = "${local.env_name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"] }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = local.env_arn }
      }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "mwaa_service" {
  #checkov:skip=CKV_AWS_355:Only MWAA-required actions without resource-level support use "*": logs:DescribeLogGroups, cloudwatch:PutMetricData, s3:GetAccountPublicAccessBlock (AWS MWAA execution-role documentation).
  #checkov:skip=CKV_AWS_290:cloudwatch:PutMetricData has no resource-level permissions; it is scoped by the cloudwatch:namespace condition instead.
  name = "mwaa-service"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PublishEnvironmentMetrics"
        Effect   = "Allow"
        Action   = "airflow:PublishMetrics"
        Resource = local.env_arn
      },
      {
        Sid      = "ReadSourceBucket"
        Effect   = "Allow"
        Action   = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
        Resource = [module.source_bucket.arn, "${module.source_bucket.arn}/*"]
      },
      {
        Sid      = "AccountPublicAccessBlockCheck"
        Effect   = "Allow"
        Action   = "s3:GetAccountPublicAccessBlock"
        Resource = "*"
      },
      {
        Sid    = "WriteAirflowLogs"
        Effect = "Allow"
        Action = [
          "logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
          "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
        ]
        Resource = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:airflow-${local.env_name}-*"
      },
      {
        Sid      = "DescribeLogGroups"
        Effect   = "Allow"
        Action   = "logs:DescribeLogGroups"
        Resource = "*"
      },
      {
        Sid       = "PutMetrics"
        Effect    = "Allow"
        Action    = "cloudwatch:PutMetricData"
        Resource  = "*"
        Condition = { StringLike = { "cloudwatch:namespace" = ["AmazonMWAA", "airlock*"] } }
      },
      {
        Sid    = "CeleryQueues"
        Effect = "Allow"
        Action = [
          "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
          "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage",
        ]
        Resource = "arn:${local.partition}:sqs:${local.region}:*:airflow-celery-*"
      },
      {
        Sid      = "EnvironmentKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
        Resource = aws_kms_key.mwaa.arn
        Condition = {
          StringLike = { "kms:ViaService" = ["sqs.${local.region}.amazonaws.com", "s3.${local.region}.amazonaws.com"] }
        }
      },
    ]
  })
}

module "dag_access" {
  source       = "../dag_access"
  name_prefix  = var.name_prefix
  partition    = local.partition
  region       = local.region
  account_id   = local.account_id
  bucket_arns  = var.bucket_arns
  kms_key_arns = concat(var.tenant_kms_key_arns, [var.storage_kms_key_arn])
  ecs          = var.ecs
}

resource "aws_iam_role_policy" "kit" {
  name   = "airlock-dags"
  role   = aws_iam_role.execution.id
  policy = module.dag_access.policy_json
}

# The secrets backend (warehouse connections): the kit's prefix only.
resource "aws_iam_role_policy" "kit_secrets" {
  count  = var.secrets_read_policy_json == null ? 0 : 1
  name   = "airlock-secrets"
  role   = aws_iam_role.execution.id
  policy = var.secrets_read_policy_json
}

# ---------------------------------------------------------------------------------------------
# The environment
# ---------------------------------------------------------------------------------------------
resource "aws_mwaa_environment" "this" {
  name                   = local.env_name
  airflow_version        = var.airflow_version
  environment_class      = var.environment_class
  min_workers            = var.min_workers
  max_workers            = var.max_workers
  execution_role_arn     = aws_iam_role.execution.arn
  kms_key                = aws_kms_key.mwaa.arn
  source_bucket_arn      = module.source_bucket.arn
  dag_s3_path            = "dags/"
  requirements_s3_path   = var.requirements_s3_path
  startup_script_s3_path = var.startup_script_s3_path
  plugins_s3_path        = var.plugins_s3_path
  # Pinning versions makes an environment update reproducible; deploy.yml passes the versions
  # `airlock deploy mwaa` printed, so Terraform and the deploy agree on what runs.
  requirements_s3_object_version   = var.source_object_versions.requirements
  startup_script_s3_object_version = var.source_object_versions.startup_script
  plugins_s3_object_version        = var.source_object_versions.plugins
  webserver_access_mode            = "PRIVATE_ONLY"

  airflow_configuration_options = merge(local.kit_options, var.airflow_configuration_options)

  network_configuration {
    security_group_ids = [aws_security_group.mwaa.id]
    subnet_ids         = var.private_subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = var.log_level
    }
    scheduler_logs {
      enabled   = true
      log_level = var.log_level
    }
    task_logs {
      enabled   = true
      log_level = var.log_level
    }
    webserver_logs {
      enabled   = true
      log_level = var.log_level
    }
    worker_logs {
      enabled   = true
      log_level = var.log_level
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.mwaa_service, module.source_bucket]
}
