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

output "shared_queue" {
  description = "The standard tier's notification queue: name, url, arn, dlq_arn (watched by the router as `sqs_shared`)."
  value = {
    name    = module.shared_queue.name
    url     = module.shared_queue.url
    arn     = module.shared_queue.arn
    dlq_arn = module.shared_queue.dlq_arn
  }
}

output "shared_queue_policies" {
  description = "The shared queue's and its DLQ's policy documents (JSON), by `queue` and `dlq`."
  value       = module.shared_queue.queue_policies
}

output "events_kms_key_arn" {
  description = "KMS key of the shared queue: the identity running the DAGs needs kms:Decrypt on it (via SQS)."
  value       = aws_kms_key.events.arn
}

output "shared_event_pattern" {
  description = "The EventBridge pattern of the shared queue's rule (JSON): every landing upload except dedicated tenants' prefixes."
  value       = module.shared_queue.event_pattern
}

output "bucket_policies" {
  description = "The bucket policy documents (JSON) by bucket role, attached or not (see attach_data_bucket_policies): what tests evaluate."
  value = merge(local.platform_policies, {
    landing     = local.landing_policy
    access_logs = aws_s3_bucket_policy.access_logs.policy
  })
}
