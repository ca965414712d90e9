output "bucket_names" {
  description = "Bucket names by role: landing, raw, quarantine, access_logs."
  value       = { for k, b in local.all_buckets : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARNs by role: landing, raw, quarantine, access_logs."
  value       = { for k, b in local.all_buckets : k => b.arn }
}

output "landing_url" {
  description = "AIRLOCK_LANDING_URL."
  value       = "s3://${aws_s3_bucket.landing.bucket}"
}

output "raw_url" {
  description = "AIRLOCK_RAW_URL."
  value       = "s3://${aws_s3_bucket.raw.bucket}"
}

output "quarantine_url" {
  description = "AIRLOCK_QUARANTINE_URL."
  value       = "s3://${aws_s3_bucket.quarantine.bucket}"
}

output "storage_kms_key_arn" {
  description = "KMS key of raw and quarantine: platform and processing roles need kms:Decrypt on it (via S3)."
  value       = aws_kms_key.storage.arn
}

output "notified_prefixes" {
  description = "Tenant prefix => queue ARN, as configured on the landing bucket's notification."
  value       = { for q in aws_s3_bucket_notification.landing.queue : q.filter_prefix => q.queue_arn }
}

output "bucket_policies" {
  description = "The bucket policy documents (JSON) by bucket role, attached or not (see attach_data_bucket_policies): what tests evaluate."
  value = merge(local.platform_policies, {
    landing     = local.landing_policy
    access_logs = aws_s3_bucket_policy.access_logs.policy
  })
}
