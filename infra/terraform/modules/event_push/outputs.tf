output "rule_arn" {
  description = "The EventBridge rule that pushes landing uploads."
  value       = aws_cloudwatch_event_rule.push.arn
}

output "api_destination_arn" {
  description = "The API destination (POST /api/v2/assets/events)."
  value       = aws_cloudwatch_event_api_destination.asset_events.arn
}

output "dlq_url" {
  description = "Events the API did not take: alert on its depth (observability/monitors/sqs-dlq-depth.json matches *-dlq)."
  value       = aws_sqs_queue.dlq.id
}

output "input_template" {
  description = "The request body EventBridge sends, with <id> and <aws.events.event.json> still to fill."
  value       = local.input_template
}
