output "tenant_id" {
  description = "The tenant this instance serves."
  value       = var.tenant_id
}

output "kms_key_arn" {
  description = "The tenant key: uploads must send it as x-amz-server-side-encryption-aws-kms-key-id."
  value       = aws_kms_key.tenant.arn
}

output "isolation_tier" {
  description = "standard (events on the shared queue) or dedicated (its own queue, below)."
  value       = var.isolation_tier
}

output "queue_url" {
  description = "Dedicated tier: URL of the tenant's landing-notification queue (watched by the router); null for standard."
  value       = one(module.queue[*].url)
}

output "queue_arn" {
  description = "Dedicated tier: ARN of the tenant's landing-notification queue; null for standard."
  value       = one(module.queue[*].arn)
}

output "event_pattern" {
  description = "Dedicated tier: the pattern of the tenant's EventBridge rule (JSON); null for standard."
  value       = one(module.queue[*].event_pattern)
}

output "queue_name" {
  description = "Dedicated tier: name of the queue, <prefix>-<tenant>-landing; null for standard."
  value       = one(module.queue[*].name)
}

output "dlq_arn" {
  description = "Dedicated tier: ARN of the dead-letter queue (alert on its depth); null for standard."
  value       = one(module.queue[*].dlq_arn)
}

output "upload_role_arn" {
  description = "Role the tenant assumes to upload into landing/<tenant>/."
  value       = one(aws_iam_role.upload[*].arn)
}

output "processing_role_arn" {
  description = "Role that reads raw/<tenant>/: the tenant's ECS task role."
  value       = one(aws_iam_role.processing[*].arn)
}

output "processing_role_name" {
  description = "Name of the processing role."
  value       = one(aws_iam_role.processing[*].name)
}

output "offboarded" {
  description = "True when the tenant left: only its key remains (role outputs are null)."
  value       = var.offboarded
}

output "kms_alias_arn" {
  description = "The key's alias ARN: what the kit sends as SSEKMSKeyId for the tenant's snapshots (AIRLOCK_TENANT_KEY_TEMPLATE)."
  value       = aws_kms_alias.tenant.arn
}
