# One queue, its DLQ and its rule, offline: mock provider.
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
  target = aws_sqs_queue.this
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing" }
}

override_resource {
  target = aws_sqs_queue.dlq
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-acme-landing-dlq" }
}

variables {
  name          = "airlock-test-acme-landing"
  kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/acme"
  rule_name     = "airlock-test-landing-acme"
  event_pattern = { source = ["aws.s3"], detail = { object = { key = [{ prefix = "acme/" }] } } }
}

run "queue_dlq_and_rule" {
  command = apply

  assert {
    condition     = aws_sqs_queue.this.name == "airlock-test-acme-landing" && aws_sqs_queue.dlq.name == "airlock-test-acme-landing-dlq"
    error_message = "Queue names follow docs/contracts.md."
  }
  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.dlq.kms_master_key_id == var.kms_key_arn
    error_message = "Queue and DLQ are encrypted with the caller's key."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = 5 }
    error_message = "The redrive policy targets the DLQ after max_receive_count receives."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this.event_pattern) == var.event_pattern
    error_message = "The rule carries the caller's pattern."
  }
  assert {
    condition     = aws_cloudwatch_event_target.this.arn == aws_sqs_queue.this.arn && aws_cloudwatch_event_target.this.dead_letter_config[0].arn == aws_sqs_queue.dlq.arn
    error_message = "The rule delivers to the queue; what it cannot deliver goes to the DLQ."
  }
  assert {
    condition = alltrue([
      for p in values(output.queue_policies) : one([
        for s in jsondecode(p).Statement : s.Condition.ArnEquals["aws:SourceArn"] if s.Effect == "Allow"
      ]) == "arn:aws:events:us-east-1:123456789012:rule/airlock-test-landing-acme"
    ]) && length(output.queue_policies) == 2
    error_message = "Only the queue's own rule may send to the queue and to its DLQ."
  }
  assert {
    condition = alltrue([
      for p in values(output.queue_policies) : anytrue([
        for s in jsondecode(p).Statement : s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
      ])
    ])
    error_message = "Queue and DLQ refuse plain HTTP."
  }
}
