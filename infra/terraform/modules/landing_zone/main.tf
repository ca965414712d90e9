# ---------------------------------------------------------------------------------------------
# Storage key: encrypts raw snapshots and quarantine (platform-written). Landing objects are
# encrypted with each tenant's own key instead (enforced per prefix by the landing policy).
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "storage" {
  description             = "${var.name_prefix}: raw snapshots and quarantine (SSE-KMS)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # Delegates to IAM: the platform and processing roles get kms:* narrowly in their own
      # policies (ViaService s3), which keeps this key policy free of per-role edits.
      Sid       = "AccountAdministersViaIAM"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_kms_alias" "storage" {
  name          = "alias/${var.name_prefix}-storage"
  target_key_id = aws_kms_key.storage.key_id
}

# ---------------------------------------------------------------------------------------------
# Buckets
# ---------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "landing" {
  #checkov:skip=CKV_AWS_144:Landing data is transient (expires after landing_expiration_days) and re-sent by tenants; cross-region replication would copy tenant data out of its region.
  bucket        = local.bucket_names.landing
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "airlock:role" = "landing" })
}

resource "aws_s3_bucket" "raw" {
  #checkov:skip=CKV_AWS_144:Data residency: tenant snapshots stay in one region; durability comes from versioning + Object Lock, DR is an account-level decision outside this module.
  bucket              = local.bucket_names.raw
  force_destroy       = var.force_destroy
  object_lock_enabled = true
  tags                = merge(var.tags, { "airlock:role" = "raw" })
}

resource "aws_s3_bucket" "quarantine" {
  #checkov:skip=CKV_AWS_144:Quarantined files are copies of rejected uploads kept for inspection only; replicating them adds cost and moves tenant data across regions.
  bucket        = local.bucket_names.quarantine
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "airlock:role" = "quarantine" })
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_144:Access logs stay in-region next to the buckets they describe; replication is an org-level log-archive decision.
  #checkov:skip=CKV_AWS_18:This is the access-log target itself: logging it into itself would loop.
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to SSE-S3 encrypted targets, so this bucket uses AES256 by design.
  bucket        = local.bucket_names.access_logs
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { "airlock:role" = "access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.all_buckets
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.all_buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.all_buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = local.data_buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_object_lock_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id
  rule {
    default_retention {
      mode = "GOVERNANCE"
      days = var.raw_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------
locals {
  lifecycle = {
    landing     = { expire_days = var.landing_expiration_days, transition_days = null }
    raw         = { expire_days = null, transition_days = 90 }
    quarantine  = { expire_days = var.quarantine_expiration_days, transition_days = null }
    access_logs = { expire_days = var.access_log_retention_days, transition_days = 90 }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.all_buckets
  bucket   = each.value.id

  rule {
    id     = "airlock-${each.key}"
    status = "Enabled"
    # An explicit empty prefix, not `filter {}`: both mean the whole bucket, but some S3
    # implementations (moto) echo an empty filter back as <Prefix/>, which never converges.
    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    dynamic "expiration" {
      for_each = local.lifecycle[each.key].expire_days == null ? [] : [local.lifecycle[each.key].expire_days]
      content {
        days = expiration.value
      }
    }

    dynamic "transition" {
      for_each = local.lifecycle[each.key].transition_days == null ? [] : [local.lifecycle[each.key].transition_days]
      content {
        days          = transition.value
        storage_class = "STANDARD_IA"
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  # Per-tenant retention (retention_days in the tenant's file): its snapshots and quarantined files expire
  # after that many days; the expired versions go a day later (on raw, once the Object Lock allows).
  dynamic "rule" {
    for_each = contains(["raw", "quarantine"], each.key) ? var.tenant_retention_days : {}
    content {
      id     = "airlock-${each.key}-tenant-${rule.key}"
      status = "Enabled"
      filter {
        prefix = "${rule.key}/"
      }
      expiration {
        days = rule.value
      }
      noncurrent_version_expiration {
        noncurrent_days = 1
      }
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for id, days in var.tenant_retention_days : days >= var.raw_retention_days])
      error_message = "retention_days of ${join(", ", [for id, days in var.tenant_retention_days : "${id} (${days})" if days < var.raw_retention_days])} is below the raw bucket's Object Lock (${var.raw_retention_days} days): S3 cannot delete a locked snapshot earlier. Raise retention_days, or lower raw_retention_days; to make a tenant's data unreadable earlier, erase it (airlock tenant erase)."
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# ---------------------------------------------------------------------------------------------
# Bucket policies: TLS only everywhere; SSE-KMS enforced on writes.
# ---------------------------------------------------------------------------------------------
locals {
  landing_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        local.deny_insecure_transport.landing,
        {
          # A missing header counts as "not aws:kms" (negated operator on an absent key), so
          # an unencrypted or SSE-S3 put is refused even though it would get a default key.
          Sid       = "DenyNonKmsPut"
          Effect    = "Deny"
          Principal = { AWS = "*" }
          Action    = "s3:PutObject"
          Resource  = "${aws_s3_bucket.landing.arn}/*"
          Condition = { StringNotEquals = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
        },
      ],
      [
        # Each prefix only accepts its tenant's key: crypto-shredding on offboarding (and a dedicated
        # tenant's queue) hang on it, so another key under the prefix would break isolation.
        for id, key_arn in var.tenant_kms_keys : {
          Sid       = "DenyForeignKey${replace(title(replace(id, "_", " ")), " ", "")}"
          Effect    = "Deny"
          Principal = { AWS = "*" }
          Action    = "s3:PutObject"
          Resource  = "${aws_s3_bucket.landing.arn}/${id}/*"
          Condition = { StringNotEquals = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = key_arn } }
        }
      ]
    )
  })

  # The values a writer may send as SSEKMSKeyId for a tenant's snapshots: its key ARN or its alias ARN
  # (AIRLOCK_TENANT_KEY_TEMPLATE names the alias, whose key an erasure shreds).
  tenant_snapshot_keys = {
    for id, key_arn in var.tenant_kms_keys : id => [
      key_arn, "arn:${local.partition}:kms:${data.aws_region.current.name}:${local.account_id}:alias/${var.name_prefix}-${id}"
    ]
  }
  raw_write_keys = concat([aws_kms_key.storage.arn], flatten(values(local.tenant_snapshot_keys)))

  platform_policies = { for k, b in { raw = aws_s3_bucket.raw, quarantine = aws_s3_bucket.quarantine } : k => jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.deny_insecure_transport[k],
      {
        # Platform writers may omit the header (bucket default = storage key) but may not ask
        # for anything weaker than SSE-KMS.
        Sid       = "DenyNonKmsPut"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "s3:PutObject"
        Resource  = "${b.arn}/*"
        Condition = {
          Null            = { "s3:x-amz-server-side-encryption" = "false" }
          StringNotEquals = { "s3:x-amz-server-side-encryption" = "aws:kms" }
        }
      },
      {
        Sid       = "DenyForeignKey"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "s3:PutObject"
        Resource  = "${b.arn}/*"
        Condition = {
          Null            = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = "false" }
          StringNotEquals = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = k == "raw" ? local.raw_write_keys : [aws_kms_key.storage.arn] }
        }
      },
      ],
      # Raw: a tenant's snapshot files are under its own key (erasure shreds it), and under no other tenant's.
      [for id, keys in local.tenant_snapshot_keys : {
        Sid       = "DenyForeignSnapshotKey${replace(title(replace(id, "_", " ")), " ", "")}"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "s3:PutObject"
        Resource  = "${b.arn}/${id}/*"
        Condition = {
          Null            = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = "false" }
          StringNotEquals = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = concat([aws_kms_key.storage.arn], keys) }
        }
      } if k == "raw"],
    )
  }) }
}

resource "aws_s3_bucket_policy" "landing" {
  count      = var.attach_data_bucket_policies ? 1 : 0
  bucket     = aws_s3_bucket.landing.id
  policy     = local.landing_policy
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_policy" "platform" {
  for_each   = var.attach_data_bucket_policies ? { raw = aws_s3_bucket.raw, quarantine = aws_s3_bucket.quarantine } : {}
  bucket     = each.value.id
  policy     = local.platform_policies[each.key]
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.deny_insecure_transport.access_logs,
      {
        Sid       = "S3ServerAccessLogsPolicy"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = ["s3:PutObject"]
        Resource  = "${aws_s3_bucket.access_logs.arn}/*"
        Condition = {
          # Any airlock bucket of this env (the audit module's trail bucket logs here too).
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:s3:::${var.name_prefix}-*" }
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = local.data_buckets
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.value.id}/"
  depends_on    = [aws_s3_bucket_policy.access_logs]
}

# ---------------------------------------------------------------------------------------------
# Notifications: exactly one aws_s3_bucket_notification per bucket (a second one would silently
# replace the first). Landing sends every event to EventBridge, where rules route it: the rule
# below to the shared queue of the standard tier, one rule per dedicated tenant (tenant module) to
# its own queue. Onboarding a tenant therefore never rewrites the bucket's notification.
# ---------------------------------------------------------------------------------------------
resource "aws_s3_bucket_notification" "landing" {
  count       = var.eventbridge_config_readable ? 1 : 0
  bucket      = aws_s3_bucket.landing.id
  eventbridge = true
}

# The same notification, for endpoints that store EventBridgeConfiguration but never return it
# (moto): without ignore_changes every plan would switch it on again. Only `eventbridge` is set, so
# no later update can write back a stale value.
resource "aws_s3_bucket_notification" "landing_unreadable" {
  count       = var.eventbridge_config_readable ? 0 : 1
  bucket      = aws_s3_bucket.landing.id
  eventbridge = true

  lifecycle {
    ignore_changes = [eventbridge]
  }
}

resource "aws_s3_bucket_notification" "eventbridge" {
  for_each    = var.eventbridge_notifications ? { raw = aws_s3_bucket.raw, quarantine = aws_s3_bucket.quarantine, access_logs = aws_s3_bucket.access_logs } : {}
  bucket      = each.value.id
  eventbridge = true
}

# ---------------------------------------------------------------------------------------------
# The standard tier's shared notification queue (+ DLQ), on its own key, fed by one rule: every
# upload to landing except under a dedicated tenant's prefix.
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "events" {
  description             = "${var.name_prefix}: shared landing-notification queue (standard tier)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
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
        # EventBridge encrypts what it delivers to the shared queue (and its DLQ).
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
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "events" {
  name          = "alias/${var.name_prefix}-events"
  target_key_id = aws_kms_key.events.key_id
}

module "shared_queue" {
  source = "../notification_queue"

  name                      = local.shared_queue_name
  kms_key_arn               = aws_kms_key.events.arn
  rule_name                 = local.shared_rule_name
  event_pattern             = local.shared_event_pattern
  description               = "Uploads to ${local.bucket_names.landing}, except dedicated tenants' prefixes, to ${local.shared_queue_name}"
  message_retention_seconds = var.message_retention_seconds
  max_receive_count         = var.max_receive_count
  tags                      = var.tags
}
