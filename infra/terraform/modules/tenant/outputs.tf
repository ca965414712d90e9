output "tenant_id" {
  description = "The tenant this instance serves."
  value       = var.tenant_id
}

output "kms_key_arn" {
  description = "The tenant key: uploads must send it as x-amz-server-side-encryption-aws-kms-key-id."
  value       = aws_kms_key.tenant.arn
}

output "queue_url" {
  description = "URL of the tenant's landing-notification queue (watched by the router's AssetWatcher)."
  value       = aws_sqs_queue.landing.id
}

output "queue_arn" {
  description = "ARN of the tenant's landing-notification queue."
  value       = aws_sqs_queue.landing.arn
}

output "queue_name" {
  description = "Name of the queue: <prefix>-<tenant>-landing."
  value       = aws_sqs_queue.landing.name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue (alert on its depth)."
  value       = aws_sqs_queue.dlq.arn
}

output "queue_policy_id" {
  description = "Id of the queue policy: the landing notification must be written after it."
  value       = aws_sqs_queue_policy.landing.id
}

output "upload_role_arn" {
  description = "Role the tenant assumes to upload into landing/<tenant>/."
  value       = aws_iam_role.upload.arn
}

output "processing_role_arn" {
  description = "Role that reads raw/<tenant>/: the tenant's ECS task role."
  value       = aws_iam_role.processing.arn
}

output "processing_role_name" {
  description = "Name of the processing role."
  value       = aws_iam_role.processing.name
}
