# The push path's wiring, offline: mock provider.
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
  mock_data "aws_secretsmanager_secret_version" {
    defaults = { secret_string = "scoped-token" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/airlock-test-landing-push" }
  }
  mock_resource "aws_cloudwatch_event_api_destination" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:api-destination/airlock-test-landing-push/x" }
  }
  mock_resource "aws_cloudwatch_event_connection" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:connection/airlock-test-landing-push/x" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:airlock-test-landing-push-dlq" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/airlock-test-landing-push" }
  }
}

variables {
  name_prefix          = "airlock-test"
  landing_bucket_name  = "airlock-test-landing"
  airflow_api_url      = "https://example.astronomer.run/d1234/"
  landing_asset_id     = 7
  api_token_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock-push-token"
}

run "every_landing_upload_is_posted_as_a_landing_asset_event" {
  command = apply

  assert {
    condition     = aws_cloudwatch_event_api_destination.asset_events.invocation_endpoint == "https://example.astronomer.run/d1234/api/v2/assets/events" && aws_cloudwatch_event_api_destination.asset_events.http_method == "POST"
    error_message = "The destination is POST <api>/api/v2/assets/events."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.push.event_pattern).detail == { bucket = { name = ["airlock-test-landing"] } }
    error_message = "Every upload of the landing bucket, whatever the tenant's tier."
  }
  assert {
    condition = jsondecode(replace(replace(aws_cloudwatch_event_target.push.input_transformer[0].input_template, "<aws.events.event.json>", "{}"), "<id>", "e1")) == {
      asset_id = 7
      extra    = { source = "eventbridge", payload = { message_batch = [{ MessageId = "e1", Body = {} }] } }
    }
    error_message = "The body names the landing asset and carries the event where the router reads hints."
  }
  assert {
    condition     = one(aws_cloudwatch_event_connection.airflow.auth_parameters[0].api_key[*].value) == "Bearer scoped-token"
    error_message = "The token comes from Secrets Manager, as a bearer token."
  }
  assert {
    condition     = aws_cloudwatch_event_target.push.dead_letter_config[0].arn == aws_sqs_queue.dlq.arn
    error_message = "What the API does not take goes to the DLQ, not nowhere."
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.invoke.policy).Statement[0].Resource == aws_cloudwatch_event_api_destination.asset_events.arn
    error_message = "EventBridge may invoke this destination only."
  }
}

run "refuses_a_clear_text_api" {
  command = plan

  variables {
    airflow_api_url = "http://example.com"
  }

  expect_failures = [var.airflow_api_url]
}
