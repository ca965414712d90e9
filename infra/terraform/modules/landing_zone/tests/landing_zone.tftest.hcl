# Bucket, policy, notification and shared-queue logic for two tenants (one dedicated), offline.
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

override_resource {
  target = module.shared_queue.aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-shared-landing" }
}

override_resource {
  target = module.shared_queue.aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-shared-landing-dlq" }
}

override_resource {
  target = aws_kms_key.events
  values = { arn = "arn:aws:kms:us-east-1:123456789012:key/events" }
}

variables {
  name_prefix = "airlock-test"
  tenant_kms_keys = {
    acme   = "arn:aws:kms:us-east-1:123456789012:key/acme"
    globex = "arn:aws:kms:us-east-1:123456789012:key/globex"
  }
  dedicated_tenants = ["globex"]
}

run "one_notification_to_eventbridge_and_a_shared_rule_without_dedicated_prefixes" {
  command = apply

  assert {
    condition     = one(aws_s3_bucket_notification.landing[*].eventbridge) && length(aws_s3_bucket_notification.landing_unreadable) == 0
    error_message = "The landing bucket has exactly one notification: everything to EventBridge."
  }
  assert {
    condition = jsondecode(output.shared_event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail = {
        bucket = { name = ["airlock-test-landing"] }
        object = { key = [{ "anything-but" = { prefix = ["globex/"] } }] }
      }
    }
    error_message = "The shared rule takes every upload except the dedicated tenants' prefixes."
  }
  assert {
    condition     = output.shared_queue.name == "airlock-test-shared-landing" && output.shared_queue.dlq_arn == "arn:aws:sqs:us-east-1:123456789012:airlock-test-shared-landing-dlq"
    error_message = "Shared queue names follow docs/contracts.md."
  }
  assert {
    condition = alltrue([
      for p in values(output.shared_queue_policies) : one([
        for s in jsondecode(p).Statement : s.Condition.ArnEquals["aws:SourceArn"] if s.Effect == "Allow"
      ]) == "arn:aws:events:us-east-1:123456789012:rule/airlock-test-landing-shared"
    ])
    error_message = "Only the shared rule may send to the shared queue and its DLQ."
  }
  assert {
    condition     = toset([for s in jsondecode(aws_kms_key.events.policy).Statement : try(s.Principal.Service, "")]) == toset(["", "events.amazonaws.com", "sqs.amazonaws.com"])
    error_message = "The events key lets EventBridge and SQS use it (besides the account)."
  }
}

run "without_dedicated_tenants_the_shared_rule_takes_every_upload" {
  command = apply

  variables {
    dedicated_tenants = []
  }

  assert {
    condition     = !can(jsondecode(output.shared_event_pattern).detail.object)
    error_message = "With no dedicated tenant, the shared rule filters on the bucket only."
  }
}

run "an_endpoint_that_hides_eventbridge_config_gets_the_drift_tolerant_notification" {
  command = apply

  variables {
    eventbridge_config_readable = false
  }

  assert {
    condition     = length(aws_s3_bucket_notification.landing) == 0 && one(aws_s3_bucket_notification.landing_unreadable[*].eventbridge)
    error_message = "Still exactly one notification on the landing bucket, to EventBridge."
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

run "raw_accepts_each_tenants_own_key_under_its_prefix_only" {
  command = apply

  assert {
    condition = {
      for s in jsondecode(output.bucket_policies.raw).Statement :
      s.Resource => toset(s.Condition.StringNotEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"])
      if startswith(s.Sid, "DenyForeignSnapshotKey")
      } == {
      "${aws_s3_bucket.raw.arn}/acme/*"   = toset([aws_kms_key.storage.arn, "arn:aws:kms:us-east-1:123456789012:key/acme", "arn:aws:kms:us-east-1:123456789012:alias/airlock-test-acme"])
      "${aws_s3_bucket.raw.arn}/globex/*" = toset([aws_kms_key.storage.arn, "arn:aws:kms:us-east-1:123456789012:key/globex", "arn:aws:kms:us-east-1:123456789012:alias/airlock-test-globex"])
    }
    error_message = "A tenant's snapshots are under its own key (key or alias ARN) or the storage key, never another tenant's."
  }
  assert {
    condition = one([
      for s in jsondecode(output.bucket_policies.quarantine).Statement :
      s.Condition.StringNotEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"] if s.Sid == "DenyForeignKey"
    ]) == [aws_kms_key.storage.arn]
    error_message = "Quarantine stays under the storage key only."
  }
}

run "per_tenant_retention_becomes_lifecycle_rules" {
  command = apply

  variables {
    raw_retention_days    = 30
    tenant_retention_days = { acme = 400 }
  }

  assert {
    condition = alltrue([
      for b in ["raw", "quarantine"] : one([
        for r in aws_s3_bucket_lifecycle_configuration.this[b].rule : r.expiration[0].days
        if r.id == "airlock-${b}-tenant-acme" && r.filter[0].prefix == "acme/"
      ]) == 400
    ])
    error_message = "acme's retention_days expires its raw snapshots and quarantined files under acme/."
  }
  assert {
    condition     = length([for r in aws_s3_bucket_lifecycle_configuration.this["landing"].rule : r if strcontains(r.id, "tenant")]) == 0
    error_message = "Landing keeps its own expiry: per-tenant retention is for raw and quarantine."
  }
}

run "retention_below_the_object_lock_is_refused" {
  command = plan

  variables {
    raw_retention_days    = 365
    tenant_retention_days = { acme = 30 }
  }

  expect_failures = [aws_s3_bucket_lifecycle_configuration.this]
}
