# One instance per registry entry. Isolation is per-tenant roles (not ABAC session tags): every
# grant below names the tenant's prefix, key and (dedicated tier) queue literally, so a policy can be read, tested
# (terraform test, policy simulation) and audited on its own, and no caller-supplied session tag
# can widen it. See README.md for the trade-off.

# ---------------------------------------------------------------------------------------------
# KMS: one customer-managed key per tenant for its landing objects (and, dedicated, its queue).
# ---------------------------------------------------------------------------------------------
# Offboarding keeps the key (its snapshots stay readable); erasure disables it and schedules its deletion
# outside Terraform (airlock tenant erase). modules/tenant_guard fails a plan that would lose it by mistake.
resource "aws_kms_key" "tenant" {
  description             = "${local.name}: landing objects${local.dedicated ? " and notification queue" : ""}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "AccountAdministersViaIAM"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      }],
      # Only a dedicated tenant's events land in a queue encrypted with its key.
      local.dedicated ? [
        {
          # EventBridge encrypts the landing event it delivers to this tenant's encrypted queue.
          Sid       = "EventBridgeToEncryptedQueue"
          Effect    = "Allow"
          Principal = { Service = "events.amazonaws.com" }
          Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource  = "*"
          Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
        },
        {
          # SQS re-encrypts messages moved to the DLQ by the redrive policy.
          Sid       = "SqsUsesKeyForQueues"
          Effect    = "Allow"
          Principal = { Service = "sqs.amazonaws.com" }
          Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource  = "*"
          Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
        },
      ] : [],
    )
  })
  tags = local.tags
}

resource "aws_kms_alias" "tenant" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.tenant.key_id
}

# ---------------------------------------------------------------------------------------------
# Dedicated tier only: the tenant's own notification queue (+ DLQ), encrypted with its key, fed by
# an EventBridge rule on its prefix. Standard tenants' events go to the landing zone's shared queue.
# ---------------------------------------------------------------------------------------------
module "queue" {
  source = "../notification_queue"
  count  = local.dedicated && local.active ? 1 : 0

  name                      = "${local.name}-landing"
  kms_key_arn               = aws_kms_key.tenant.arn
  rule_name                 = "${var.name_prefix}-landing-${var.tenant_id}"
  event_pattern             = local.event_pattern
  description               = "Uploads under ${local.prefix} in the landing bucket, to ${local.name}-landing"
  message_retention_seconds = var.message_retention_seconds
  max_receive_count         = var.max_receive_count
  tags                      = local.tags
}

# Before ADR 0010 every tenant had these: a dedicated tenant keeps them, a standard one loses them.
moved {
  from = aws_sqs_queue.landing
  to   = module.queue[0].aws_sqs_queue.this
}

moved {
  from = aws_sqs_queue.dlq
  to   = module.queue[0].aws_sqs_queue.dlq
}

moved {
  from = aws_sqs_queue_redrive_policy.landing
  to   = module.queue[0].aws_sqs_queue_redrive_policy.this
}

moved {
  from = aws_sqs_queue_policy.landing
  to   = module.queue[0].aws_sqs_queue_policy.this["queue"]
}

# ---------------------------------------------------------------------------------------------
# Upload role: writes `<tenant>/` in landing, encrypted with the tenant key; nothing else.
# ---------------------------------------------------------------------------------------------
resource "aws_iam_role" "upload" {
  count                = local.active ? 1 : 0
  name                 = "${local.name}-upload"
  description          = "Tenant ${var.tenant_id} uploads to s3 landing/${local.prefix}"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(
      {
        Effect    = "Allow"
        Principal = { AWS = local.upload_trustees }
        Action    = "sts:AssumeRole"
      },
      # IAM rejects an empty Condition block: add it only when an external id is set.
      { for k, v in { Condition = { StringEquals = { "sts:ExternalId" = var.upload_external_id } } } : k => v if var.upload_external_id != null },
    )]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "upload" {
  count = local.active ? 1 : 0
  name  = "write-own-prefix"
  role  = aws_iam_role.upload[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteOwnPrefixWithOwnKey"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        Resource = local.landing_tenant
        Condition = {
          StringEquals = {
            "s3:x-amz-server-side-encryption"                = "aws:kms"
            "s3:x-amz-server-side-encryption-aws-kms-key-id" = aws_kms_key.tenant.arn
          }
        }
      },
      {
        # Listing lets upload tools check what already arrived, limited to the own prefix.
        Sid       = "ListOwnPrefix"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = var.landing_bucket_arn
        Condition = { StringLike = { "s3:prefix" = local.prefix_condition } }
      },
      {
        Sid      = "EncryptWithOwnKeyThroughS3"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = aws_kms_key.tenant.arn
        Condition = {
          StringEquals = { "kms:ViaService" = local.s3_via_service }
          StringLike   = { "kms:EncryptionContext:aws:s3:arn" = [var.landing_bucket_arn, local.landing_tenant] }
        }
      },
    ]
  })
}

# ---------------------------------------------------------------------------------------------
# Processing role: reads the tenant's own raw snapshots; it is also the tenant's ECS task role.
# ---------------------------------------------------------------------------------------------
resource "aws_iam_role" "processing" {
  count                = local.active ? 1 : 0
  name                 = "${local.name}-processing"
  description          = "Tenant ${var.tenant_id} processing: reads s3 raw/${local.prefix}"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Effect    = "Allow"
        Principal = { Service = "ecs-tasks.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      }],
      [for arns in [var.processing_trusted_role_arns] : {
        Effect    = "Allow"
        Principal = { AWS = arns }
        Action    = "sts:AssumeRole"
      } if length(arns) > 0]
    )
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "processing" {
  count = local.active ? 1 : 0
  name  = "read-own-snapshots"
  role  = aws_iam_role.processing[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadOwnSnapshots"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = local.raw_tenant
      },
      {
        Sid       = "ListOwnSnapshots"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = var.raw_bucket_arn
        Condition = { StringLike = { "s3:prefix" = local.prefix_condition } }
      },
      {
        # Snapshot files are under the tenant's own key, markers under the bucket's storage key.
        Sid       = "DecryptThroughS3"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = [var.storage_kms_key_arn, aws_kms_key.tenant.arn]
        Condition = { StringEquals = { "kms:ViaService" = local.s3_via_service } }
      },
    ]
  })
}

# Offboarding made the roles optional (count): an existing tenant's roles keep their address.
moved {
  from = aws_iam_role.upload
  to   = aws_iam_role.upload[0]
}

moved {
  from = aws_iam_role_policy.upload
  to   = aws_iam_role_policy.upload[0]
}

moved {
  from = aws_iam_role.processing
  to   = aws_iam_role.processing[0]
}

moved {
  from = aws_iam_role_policy.processing
  to   = aws_iam_role_policy.processing[0]
}
