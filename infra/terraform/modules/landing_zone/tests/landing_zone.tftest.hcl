# Bucket, policy and notification logic for two tenants, offline.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
}

variables {
  name_prefix = "airlock-test"
  tenants = {
    acme = {
      kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/acme"
      queue_arn       = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing"
      queue_policy_id = "acme-policy"
    }
    globex = {
      kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/globex"
      queue_arn       = "arn:aws:sqs:us-east-1:123456789012:airlock-test-globex-landing"
      queue_policy_id = "globex-policy"
    }
  }
}

run "one_notification_with_a_queue_per_prefix" {
  command = apply

  assert {
    condition     = length(aws_s3_bucket_notification.landing.queue) == 2
    error_message = "One queue block per tenant."
  }
  assert {
    condition = {
      for q in aws_s3_bucket_notification.landing.queue : q.filter_prefix => q.queue_arn
      } == {
      "acme/"   = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing"
      "globex/" = "arn:aws:sqs:us-east-1:123456789012:airlock-test-globex-landing"
    }
    error_message = "Each tenant prefix must notify its own queue, and only it."
  }
  assert {
    condition     = terraform_data.queue_policies.input == { acme = "acme-policy", globex = "globex-policy" }
    error_message = "The notification must wait for every queue policy."
  }
}

run "landing_policy_enforces_tls_kms_and_tenant_keys" {
  command = apply

  assert {
    condition = anytrue([
      for s in jsondecode(output.bucket_policies.landing).Statement :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "The landing policy must deny plain HTTP."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(output.bucket_policies.landing).Statement :
      s.Effect == "Deny" && try(s.Condition.StringNotEquals["s3:x-amz-server-side-encryption"], "") == "aws:kms"
    ])
    error_message = "The landing policy must deny puts that are not SSE-KMS."
  }
  assert {
    condition = {
      for s in jsondecode(output.bucket_policies.landing).Statement :
      s.Resource => s.Condition.StringNotEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"]
      if can(s.Condition.StringNotEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"])
      } == {
      "${aws_s3_bucket.landing.arn}/acme/*"   = "arn:aws:kms:us-east-1:123456789012:key/acme"
      "${aws_s3_bucket.landing.arn}/globex/*" = "arn:aws:kms:us-east-1:123456789012:key/globex"
    }
    error_message = "Each tenant prefix must only accept its tenant's key."
  }
  assert {
    condition = alltrue([
      for p in values(output.bucket_policies) :
      anytrue([for s in jsondecode(p).Statement : try(s.Condition.Bool["aws:SecureTransport"], "") == "false"])
    ])
    error_message = "Every bucket must be TLS-only."
  }
  assert {
    condition     = length(aws_s3_bucket_policy.landing) == 1 && length(aws_s3_bucket_policy.platform) == 2
    error_message = "The data bucket policies are attached by default."
  }
}

run "buckets_are_private_versioned_locked_and_logged" {
  command = apply

  assert {
    condition     = alltrue([for b in aws_s3_bucket_public_access_block.this : b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "Every bucket blocks public access."
  }
  assert {
    condition     = alltrue([for v in aws_s3_bucket_versioning.this : v.versioning_configuration[0].status == "Enabled"])
    error_message = "Every bucket is versioned."
  }
  assert {
    condition     = aws_s3_bucket.raw.object_lock_enabled && one(aws_s3_bucket_object_lock_configuration.raw.rule[0].default_retention).mode == "GOVERNANCE"
    error_message = "Raw snapshots are under Object Lock, GOVERNANCE mode."
  }
  assert {
    condition     = one(aws_s3_bucket_object_lock_configuration.raw.rule[0].default_retention).days >= 365
    error_message = "Raw retention must be at least 365 days by default."
  }
  assert {
    condition     = toset(keys(aws_s3_bucket_logging.data)) == toset(["landing", "raw", "quarantine"])
    error_message = "Landing, raw and quarantine log to the access-logs bucket."
  }
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.this["access_logs"].rule[0].expiration).days >= 365
    error_message = "Access logs are kept at least 365 days."
  }
  assert {
    condition     = aws_s3_bucket.landing.bucket == "airlock-test-landing" && aws_s3_bucket.access_logs.bucket == "airlock-test-access-logs"
    error_message = "Bucket names follow docs/contracts.md."
  }
}

run "rejects_short_access_log_retention" {
  command = plan

  variables {
    access_log_retention_days = 30
  }

  expect_failures = [var.access_log_retention_days]
}
