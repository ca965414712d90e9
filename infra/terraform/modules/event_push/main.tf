# The push path: S3 -> EventBridge -> API destination -> Airflow's REST API. No queue is polled:
# each upload becomes an asset event on `landing` within about a second of the upload, and the
# router handles it like a watcher's event (validation, quarantine and snapshots stay one path).

resource "aws_cloudwatch_event_connection" "airflow" {
  name               = local.name
  description        = "Airflow REST API of ${var.name_prefix}, with a token scoped to asset events"
  authorization_type = "API_KEY"

  auth_parameters {
    api_key {
      key   = "Authorization"
      value = "Bearer ${data.aws_secretsmanager_secret_version.api_token.secret_string}"
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "asset_events" {
  name                             = local.name
  description                      = "POST /api/v2/assets/events (asset `landing`)"
  invocation_endpoint              = "${trimsuffix(var.airflow_api_url, "/")}/api/v2/assets/events"
  http_method                      = "POST"
  invocation_rate_limit_per_second = var.invocation_rate_limit_per_second
  connection_arn                   = aws_cloudwatch_event_connection.airflow.arn
}

resource "aws_cloudwatch_event_rule" "push" {
  name          = local.name
  description   = "Uploads to ${var.landing_bucket_name}, pushed to Airflow's REST API"
  event_pattern = jsonencode(local.event_pattern)
  tags          = var.tags
}

resource "aws_iam_role" "invoke" {
  name        = local.name
  description = "EventBridge invokes the ${local.name} API destination"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "invoke" {
  name = "invoke-api-destination"
  role = aws_iam_role.invoke.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "events:InvokeApiDestination"
      Resource = aws_cloudwatch_event_api_destination.asset_events.arn
    }]
  })
}

# Events the API refused or could not take (Airflow down for more than a day, a revoked token) are
# kept here for 14 days instead of being dropped; the reconcile sweep still finds their batches.
resource "aws_sqs_queue" "dlq" {
  name                      = "${local.name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "PushRuleOnly"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.dlq.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.push.arn } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.dlq.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_target" "push" {
  rule      = aws_cloudwatch_event_rule.push.name
  target_id = "airflow"
  arn       = aws_cloudwatch_event_api_destination.asset_events.arn
  role_arn  = aws_iam_role.invoke.arn

  input_transformer {
    input_paths    = { id = "$.id" }
    input_template = local.input_template
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  depends_on = [aws_sqs_queue_policy.dlq, aws_iam_role_policy.invoke]
}
