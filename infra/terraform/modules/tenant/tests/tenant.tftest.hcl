# Logic of one tenant instance, offline: mock provider, fixed identity.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/acme-key" }
  }
}

variables {
  name_prefix         = "airlock-test"
  tenant_id           = "acme"
  landing_bucket_arn  = "arn:aws:s3:::airlock-test-landing"
  raw_bucket_arn      = "arn:aws:s3:::airlock-test-raw"
  storage_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/storage"
}

override_resource {
  target = module.queue[0].aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing" }
}

override_resource {
  target = module.queue[0].aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing-dlq" }
}

run "standard_tenant_has_a_key_and_no_queue" {
  command = apply

  assert {
    condition     = aws_kms_key.tenant.enable_key_rotation
    error_message = "The tenant key must rotate."
  }
  assert {
    condition     = [for s in jsondecode(aws_kms_key.tenant.policy).Statement : s.Sid] == ["AccountAdministersViaIAM"]
    error_message = "A standard tenant's key serves its landing objects only: no service may use it for queues."
  }
  assert {
    condition     = length(module.queue) == 0
    error_message = "A standard tenant's events go to the shared queue: no queue, DLQ or rule of its own."
  }
  assert {
    condition     = output.queue_url == null && output.isolation_tier == "standard"
    error_message = "A standard tenant has no queue URL."
  }
}

run "dedicated_tenant_has_its_queue_dlq_and_rule" {
  command = apply

  variables {
    isolation_tier = "dedicated"
  }

  assert {
    condition     = toset([for s in jsondecode(aws_kms_key.tenant.policy).Statement : try(s.Principal.Service, "")]) == toset(["", "events.amazonaws.com", "sqs.amazonaws.com"])
    error_message = "The key policy must let EventBridge and SQS use the key (besides the account)."
  }
  assert {
    condition     = output.queue_name == "airlock-test-acme-landing" && output.dlq_arn == "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing-dlq"
    error_message = "Queue names must follow docs/contracts.md."
  }
  assert {
    condition     = module.queue[0].queue_policies != null && output.queue_url != null
    error_message = "A dedicated tenant exports its queue."
  }
  assert {
    condition = jsondecode(output.event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail        = { bucket = { name = ["airlock-test-landing"] }, object = { key = [{ prefix = "acme/" }] } }
    }
    error_message = "The tenant's rule takes uploads under its own prefix only."
  }
}

run "queue_policy_only_from_the_tenants_rule" {
  command = apply

  variables {
    isolation_tier = "dedicated"
  }

  assert {
    condition = alltrue([
      for p in values(module.queue[0].queue_policies) : one([
        for s in jsondecode(p).Statement : s.Condition.ArnEquals["aws:SourceArn"] if s.Effect == "Allow"
      ]) == "arn:aws:events:us-east-1:123456789012:rule/airlock-test-landing-acme"
    ])
    error_message = "Only the tenant's own rule (aws:SourceArn) may send to its queue and DLQ."
  }
}

run "upload_role_scoped_to_own_prefix" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.upload[0].policy).Statement : [
        for r in flatten([s.Resource]) : r == "arn:aws:s3:::airlock-test-landing/acme/*"
      ] if anytrue([for a in flatten([s.Action]) : startswith(a, "s3:") && a != "s3:ListBucket"])
    ]))
    error_message = "Object actions of the upload role must target landing/acme/* only."
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.upload[0].policy).Statement : s.Condition.StringLike["s3:prefix"]
      if s.Action == "s3:ListBucket"
    ]) == ["acme/", "acme/*"]
    error_message = "Listing must be limited to the acme/ prefix (s3:prefix)."
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.upload[0].policy).Statement : s.Condition.StringEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"]
      if s.Sid == "WriteOwnPrefixWithOwnKey"
    ]) == aws_kms_key.tenant.arn
    error_message = "Uploads must name the tenant's own key."
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.upload[0].policy, "\"*\"")
    error_message = "The upload policy must not contain a wildcard action or resource."
  }
}

run "processing_role_reads_own_snapshots_only" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.processing[0].policy).Statement : [
        for r in flatten([s.Resource]) : r == "arn:aws:s3:::airlock-test-raw/acme/*"
      ] if contains(flatten([s.Action]), "s3:GetObject")
    ]))
    error_message = "The processing role must read raw/acme/* only."
  }
  assert {
    condition     = length(regexall("s3:Put|s3:Delete", aws_iam_role_policy.processing[0].policy)) == 0
    error_message = "The processing role must not write or delete."
  }
}

run "rejects_bad_tenant_id" {
  command = plan

  variables {
    tenant_id = "Acme-Corp"
  }

  expect_failures = [var.tenant_id]
}

run "rejects_unknown_tier" {
  command = plan

  variables {
    isolation_tier = "premium"
  }

  expect_failures = [var.isolation_tier]
}

run "rejects_wildcard_upload_principal" {
  command = plan

  variables {
    upload_principal_arns = ["*"]
  }

  expect_failures = [var.upload_principal_arns]
}

run "processing_role_decrypts_snapshots_under_the_tenant_key" {
  command = apply

  assert {
    condition = toset(one([
      for s in jsondecode(aws_iam_role_policy.processing[0].policy).Statement : flatten([s.Resource]) if s.Sid == "DecryptThroughS3"
    ])) == toset(["arn:aws:kms:us-east-1:123456789012:key/storage", aws_kms_key.tenant.arn])
    error_message = "Snapshot files are under the tenant's key, markers under the storage key: the processing role decrypts both, and no other key."
  }
}

run "an_offboarded_tenant_keeps_only_its_key" {
  command = apply

  variables {
    isolation_tier = "dedicated"
    offboarded     = true
  }

  assert {
    condition     = aws_kms_key.tenant.enable_key_rotation && aws_kms_alias.tenant.name == "alias/airlock-test-acme"
    error_message = "Offboarding keeps the key and its alias: the snapshots stay readable until an erasure."
  }
  assert {
    condition     = length(aws_iam_role.upload) + length(aws_iam_role.processing) + length(module.queue) == 0
    error_message = "Offboarding removes the roles and the queue (dedicated tier): no upload, no processing, no events."
  }
  assert {
    condition     = output.upload_role_arn == null && output.processing_role_arn == null && output.queue_url == null && output.offboarded
    error_message = "An offboarded tenant's outputs say so."
  }
}
