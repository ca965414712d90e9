variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>` (docs/contracts.md): buckets become <prefix>-landing, -raw, -quarantine, -access-logs."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars (it starts S3 bucket names)."
  }
}

variable "tenants" {
  description = "Per tenant (key = tenant_id): the KMS key its landing objects must use, its notification queue ARN, and the id of that queue's policy (so notifications wait for it)."
  type = map(object({
    kms_key_arn     = string
    queue_arn       = string
    queue_policy_id = string
  }))
  nullable = false

  validation {
    condition     = alltrue([for id, _ in var.tenants : can(regex("^[a-z][a-z0-9_]{1,31}$", id))])
    error_message = "Tenant ids are lowercase identifiers (dags/registry/tenants/<id>.yaml)."
  }

  validation {
    condition     = alltrue([for t in var.tenants : startswith(t.queue_arn, "arn:")])
    error_message = "queue_arn must be an SQS queue ARN."
  }
}

variable "raw_retention_days" {
  description = "Object Lock default retention (GOVERNANCE mode) of raw snapshots, in days: a snapshot cannot be altered or removed before, except by a principal allowed s3:BypassGovernanceRetention."
  type        = number
  default     = 365

  validation {
    condition     = var.raw_retention_days >= 1 && var.raw_retention_days <= 3650
    error_message = "raw_retention_days must be between 1 and 3650."
  }
}

variable "landing_expiration_days" {
  description = "Days after which landed files expire: once snapshotted into raw, the landing copy is only a convenience."
  type        = number
  default     = 30

  validation {
    condition     = var.landing_expiration_days >= 1
    error_message = "landing_expiration_days must be at least 1."
  }
}

variable "quarantine_expiration_days" {
  description = "Days a quarantined file is kept for the tenant to inspect."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiration_days >= 7
    error_message = "Keep quarantined files at least 7 days so a tenant can react to the alert."
  }
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept (audit evidence: at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 365
    error_message = "Access logs are audit evidence: keep them at least 365 days."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept (versioning is on everywhere)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to empty the buckets. Only for throwaway environments (envs/local); never in prod."
  type        = bool
  default     = false
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the storage KMS key is deleted after destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "AWS accepts 7 to 30 days."
  }
}

variable "attach_data_bucket_policies" {
  description = "Attach the landing/raw/quarantine bucket policies. Only for endpoints that evaluate bucket-policy Deny statements without their conditions (moto), which would refuse every object write; the documents stay available as output bucket_policies."
  type        = bool
  default     = true
}

variable "eventbridge_notifications" {
  description = "Send raw, quarantine and access-logs object events to EventBridge (their one aws_s3_bucket_notification). Off on endpoints that do not store EventBridgeConfiguration (moto), where it would show a diff on every plan."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
