variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>` (docs/contracts.md): buckets become <prefix>-landing, -raw, -quarantine, -access-logs."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars (it starts S3 bucket names)."
  }
}

variable "tenant_kms_keys" {
  description = "Per tenant (key = tenant_id): the KMS key its landing objects must use (the landing policy enforces it per prefix)."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for id, _ in var.tenant_kms_keys : can(regex("^[a-z][a-z0-9_]{1,31}$", id))])
    error_message = "Tenant ids are lowercase identifiers (dags/registry/tenants/<id>.yaml)."
  }

  validation {
    condition     = alltrue([for arn in values(var.tenant_kms_keys) : startswith(arn, "arn:")])
    error_message = "tenant_kms_keys values must be KMS key ARNs."
  }
}

variable "dedicated_tenants" {
  description = "Tenant ids with `isolation_tier: dedicated`: their prefixes are left out of the shared queue's rule (their own rule, in the tenant module, routes them to their own queue)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.dedicated_tenants : can(regex("^[a-z][a-z0-9_]{1,31}$", id))])
    error_message = "Tenant ids are lowercase identifiers (dags/registry/tenants/<id>.yaml)."
  }
}

variable "message_retention_seconds" {
  description = "How long an unread notification stays on the shared queue. The reconcile sweep recovers anything lost, so this only needs to outlast an Airflow outage."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 3600 && var.message_retention_seconds <= 1209600
    error_message = "SQS accepts 60 s to 14 days; keep at least an hour."
  }
}

variable "max_receive_count" {
  description = "Receives after which a notification the watcher cannot parse moves to the shared DLQ (with its reason, sent by the watcher)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1-1000."
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

variable "eventbridge_config_readable" {
  description = "Whether the endpoint returns a bucket's EventBridgeConfiguration. False only for endpoints (moto) that store it without returning it: the landing bucket's notification then ignores drift of its `eventbridge` flag instead of changing it on every plan."
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

variable "tenant_retention_days" {
  description = "Per tenant with `retention_days` in its registry file: days its snapshots (raw) and quarantined files are kept. Tenants not listed follow the bucket-wide rules."
  type        = map(number)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for days in values(var.tenant_retention_days) : days >= 1 && days <= 3650 && floor(days) == days])
    error_message = "tenant_retention_days: whole days, 1-3650."
  }
}
