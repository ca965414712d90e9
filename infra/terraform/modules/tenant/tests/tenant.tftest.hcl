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
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock" }
  }
}

variables {
  name_prefix         = "airlock-test"
  tenant_id           = "acme"
  landing_bucket_arn  = "arn:aws:s3:::airlock-test-landing"
  raw_bucket_arn      = "arn:aws:s3:::airlock-test-raw"
  storage_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/storage"
}

run "key_queue_and_names" {
  command = apply

  assert {
    condition     = aws_kms_key.tenant.enable_key_rotation
    error_message = "The tenant key must rotate."
  }
  assert {
    condition     = toset([for s in jsondecode(aws_kms_key.tenant.policy).Statement : try(s.Principal.Service, "")]) == toset(["", "s3.amazonaws.com", "sqs.amazonaws.com"])
    error_message = "The key policy must let S3 and SQS use the key (besides the account)."
  }
  assert {
    condition     = aws_sqs_queue.landing.name == "airlock-test-acme-landing" && aws_sqs_queue.dlq.name == "airlock-test-acme-landing-dlq"
    error_message = "Queue names must follow docs/contracts.md."
  }
  assert {
    condition     = aws_sqs_queue.landing.kms_master_key_id == aws_kms_key.tenant.arn && aws_sqs_queue.dlq.kms_master_key_id == aws_kms_key.tenant.arn
    error_message = "Queue and DLQ must be encrypted with the tenant key."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.landing.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn
    error_message = "The redrive policy must target the DLQ."
  }
}

run "queue_policy_only_from_landing_bucket" {
  command = apply

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue_policy.landing.policy).Statement : s.Condition.ArnEquals["aws:SourceArn"]
      if s.Effect == "Allow"
    ]) == "arn:aws:s3:::airlock-test-landing"
    error_message = "Only the landing bucket (aws:SourceArn) may send to the queue."
  }
}

run "upload_role_scoped_to_own_prefix" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.upload.policy).Statement : [
        for r in flatten([s.Resource]) : r == "arn:aws:s3:::airlock-test-landing/acme/*"
      ] if anytrue([for a in flatten([s.Action]) : startswith(a, "s3:") && a != "s3:ListBucket"])
    ]))
    error_message = "Object actions of the upload role must target landing/acme/* only."
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.upload.policy).Statement : s.Condition.StringLike["s3:prefix"]
      if s.Action == "s3:ListBucket"
    ]) == ["acme/", "acme/*"]
    error_message = "Listing must be limited to the acme/ prefix (s3:prefix)."
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.upload.policy).Statement : s.Condition.StringEquals["s3:x-amz-server-side-encryption-aws-kms-key-id"]
      if s.Sid == "WriteOwnPrefixWithOwnKey"
    ]) == aws_kms_key.tenant.arn
    error_message = "Uploads must name the tenant's own key."
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.upload.policy, "\"*\"")
    error_message = "The upload policy must not contain a wildcard action or resource."
  }
}

run "processing_role_reads_own_snapshots_only" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.processing.policy).Statement : [
        for r in flatten([s.Resource]) : r == "arn:aws:s3:::airlock-test-raw/acme/*"
      ] if contains(flatten([s.Action]), "s3:GetObject")
    ]))
    error_message = "The processing role must read raw/acme/* only."
  }
  assert {
    condition     = length(regexall("s3:Put|s3:Delete", aws_iam_role_policy.processing.policy)) == 0
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

run "rejects_wildcard_upload_principal" {
  command = plan

  variables {
    upload_principal_arns = ["*"]
  }

  expect_failures = [var.upload_principal_arns]
}
