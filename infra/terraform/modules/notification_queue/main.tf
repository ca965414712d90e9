# One landing-notification queue: the queue and its DLQ on the caller's key, and the EventBridge rule
# that feeds it. The landing_zone module makes the shared queue of the standard tier with it, the
# tenant module a dedicated tenant's own queue.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  rule_arn = "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:rule/${var.rule_name}"
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-dlq"
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
  tags                              = var.tags
}

resource "aws_sqs_queue" "this" {
  name                              = var.name
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = var.message_retention_seconds
  # What the watcher asks for on every receive anyway (AIRLOCK_WATCHER_VISIBILITY_TIMEOUT): after a
  # triggerer crash, SQS redelivers within this time.
  visibility_timeout_seconds = var.visibility_timeout_seconds
  tags                       = var.tags

  lifecycle {
    # Owned by aws_sqs_queue_redrive_policy.this; the queue only reads it back (re-serialised,
    # which shows as a whitespace diff on every plan).
    ignore_changes = [redrive_policy]
  }
}

# Separate resource, not the inline redrive_policy argument: the inline form shows a permanent
# diff against some endpoints (moto) and couples queue and DLQ creation.
resource "aws_sqs_queue_redrive_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Only this queue's rule may send, to the queue (events) and to the DLQ (events it could not deliver).
resource "aws_sqs_queue_policy" "this" {
  for_each  = { queue = aws_sqs_queue.this, dlq = aws_sqs_queue.dlq }
  queue_url = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "OwnRuleOnly"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = each.value.arn
        Condition = { ArnEquals = { "aws:SourceArn" = local.rule_arn } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sqs:*"
        Resource  = each.value.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  # Both resources write attributes of the same queue; written concurrently, one can be lost
  # (seen against moto: the Policy vanished and the provider waited for it forever).
  depends_on = [aws_sqs_queue_redrive_policy.this]
}

resource "aws_cloudwatch_event_rule" "this" {
  name          = var.rule_name
  description   = var.description
  event_pattern = jsonencode(var.event_pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "queue"
  arn       = aws_sqs_queue.this.arn

  # An event EventBridge cannot deliver (a key or policy gone wrong) lands in the DLQ, not nowhere.
  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  # EventBridge does not check the queue policy when the target is written; deliveries fail until
  # it exists. Write the policies first.
  depends_on = [aws_sqs_queue_policy.this]
}
