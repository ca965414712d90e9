# A private, KMS-encrypted, versioned bucket with access logs, EventBridge notifications, a TLS-only
# policy and one lifecycle rule: the shape every non-data bucket of the kit shares (audit trail, MWAA
# source, Datadog delivery backups). The data buckets (landing, raw, quarantine) live in landing_zone,
# with Object Lock and per-tenant policies this module does not have.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:No caller wants cross-region replication (audit copies stay in-region, deploy artifacts are rebuilt from git, telemetry backups have no value elsewhere); see each caller's README.
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    id     = var.lifecycle_rule_id
    status = "Enabled"
    # An explicit empty prefix, not `filter {}`: both mean the whole bucket, but some S3
    # implementations (moto) echo an empty filter back as <Prefix/>, which never converges.
    filter {
      prefix = ""
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    dynamic "transition" {
      for_each = var.glacier_ir_after_days == null ? [] : [var.glacier_ir_after_days]
      content {
        days          = transition.value
        storage_class = "GLACIER_IR"
      }
    }
    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket_name
  target_prefix = "${var.name}/"
}

resource "aws_s3_bucket_notification" "this" {
  bucket      = aws_s3_bucket.this.id
  eventbridge = true
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      var.extra_policy_statements,
    )
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}
