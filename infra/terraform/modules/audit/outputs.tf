output "trail_arn" {
  description = "ARN of the trail."
  value       = aws_cloudtrail.this.arn
}

output "trail_bucket_name" {
  description = "Bucket holding the trail's (validated) log files."
  value       = module.trail_bucket.id
}

output "log_group_names" {
  description = "CloudWatch log groups of this module (each retained var.log_retention_days)."
  value       = [aws_cloudwatch_log_group.trail.name]
}

output "kms_key_arn" {
  description = "Key encrypting the trail and its log group."
  value       = aws_kms_key.audit.arn
}
