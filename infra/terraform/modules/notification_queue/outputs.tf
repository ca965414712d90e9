output "name" {
  description = "Queue name."
  value       = aws_sqs_queue.this.name
}

output "url" {
  description = "Queue URL (what a watcher polls)."
  value       = aws_sqs_queue.this.id
}

output "arn" {
  description = "Queue ARN."
  value       = aws_sqs_queue.this.arn
}

output "dlq_arn" {
  description = "ARN of the DLQ: rejected notifications and events EventBridge could not deliver (alert on its depth)."
  value       = aws_sqs_queue.dlq.arn
}

output "rule_arn" {
  description = "ARN of the rule feeding the queue."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "event_pattern" {
  description = "The rule's pattern, as stored (JSON)."
  value       = aws_cloudwatch_event_rule.this.event_pattern
}

output "queue_policies" {
  description = "The queue's and the DLQ's policy documents (JSON), by `queue` and `dlq`: what tests evaluate."
  value       = { for k, p in aws_sqs_queue_policy.this : k => p.policy }
}
