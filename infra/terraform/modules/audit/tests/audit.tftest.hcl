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
  # The provider validates ARN-shaped arguments even under mocks.
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/audit" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/airlock/airlock-test/cloudtrail" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/airlock-test-cloudtrail-logs" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::airlock-test-audit" }
  }
}

variables {
  name_prefix            = "airlock-test"
  data_event_bucket_arns = ["arn:aws:s3:::airlock-test-landing", "arn:aws:s3:::airlock-test-raw"]
  access_log_bucket_name = "airlock-test-access-logs"
}

run "trail_records_data_events_with_validation" {
  command = apply

  assert {
    condition     = aws_cloudtrail.this.enable_log_file_validation && aws_cloudtrail.this.kms_key_id == aws_kms_key.audit.arn
    error_message = "The trail validates log files and is KMS-encrypted."
  }
  assert {
    condition = toset(flatten([
      for sel in aws_cloudtrail.this.event_selector : [for d in sel.data_resource : d.values if d.type == "AWS::S3::Object"]
    ])) == toset(["arn:aws:s3:::airlock-test-landing/", "arn:aws:s3:::airlock-test-raw/"])
    error_message = "S3 data events are recorded on landing and raw."
  }
}

run "log_retention_at_least_365_days" {
  command = apply

  assert {
    condition     = aws_cloudwatch_log_group.trail.retention_in_days >= 365
    error_message = "Audit log groups keep at least 365 days."
  }
  assert {
    condition     = module.trail_bucket.expiration_days >= 365
    error_message = "Trail files are kept at least 365 days."
  }
}

run "rejects_short_retention" {
  command = plan

  variables {
    log_retention_days = 90
  }

  expect_failures = [var.log_retention_days]
}
