variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: the queue becomes <prefix>-<tenant>-landing (docs/contracts.md)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "tenant_id" {
  description = "The tenant's id (its dags/registry/tenants/<id>.yaml file name): its S3 prefix is `<tenant_id>/`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{1,31}$", var.tenant_id))
    error_message = "tenant_id: lowercase letters, digits and '_', starting with a letter (2-32 chars)."
  }
}

variable "isolation_tier" {
  description = "The tenant's `isolation_tier` (registry): `dedicated` gets its own queue + DLQ encrypted with its key and an EventBridge rule on its prefix; `standard` shares the landing zone's queue."
  type        = string
  default     = "standard"
  nullable    = false

  validation {
    condition     = contains(["standard", "dedicated"], var.isolation_tier)
    error_message = "isolation_tier must be standard or dedicated (dags/registry/tenants/<id>.yaml)."
  }
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket: where the upload role writes, and (dedicated tier) whose events the tenant's rule routes to its queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.landing_bucket_arn))
    error_message = "landing_bucket_arn must be an S3 bucket ARN."
  }
}

variable "raw_bucket_arn" {
  description = "ARN of the raw snapshot bucket: the processing role reads `<tenant_id>/` there."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.raw_bucket_arn))
    error_message = "raw_bucket_arn must be an S3 bucket ARN."
  }
}

variable "storage_kms_key_arn" {
  description = "KMS key of the raw bucket (landing_zone output): the processing role decrypts with it, through S3 only."
  type        = string

  validation {
    condition     = startswith(var.storage_kms_key_arn, "arn:")
    error_message = "storage_kms_key_arn must be a KMS key ARN."
  }
}

variable "upload_principal_arns" {
  description = "AWS principals allowed to assume the tenant's upload role (the tenant's own account or SSO role). Empty means this account's root, i.e. whoever this account's IAM allows."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.upload_principal_arns : startswith(a, "arn:") && a != "*"])
    error_message = "upload_principal_arns are IAM ARNs; a wildcard principal is not allowed."
  }
}

variable "upload_external_id" {
  description = "sts:ExternalId the tenant must present when assuming the upload role from another account (confused-deputy guard). Null when the uploader is in this account."
  type        = string
  default     = null
  sensitive   = true
}

variable "processing_trusted_role_arns" {
  description = "Roles, besides ECS tasks, that may assume the processing role (e.g. the Astro workload identity for Kubernetes pods)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.processing_trusted_role_arns : startswith(a, "arn:")])
    error_message = "processing_trusted_role_arns are IAM role ARNs."
  }
}

variable "message_retention_seconds" {
  description = "Dedicated tier: how long an unread landing notification is kept. The reconcile sweep recovers anything lost, so this only needs to outlast an Airflow outage."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 3600 && var.message_retention_seconds <= 1209600
    error_message = "SQS accepts 60 s to 14 days; keep at least an hour."
  }
}

variable "max_receive_count" {
  description = "Dedicated tier: receives after which a notification the watcher cannot parse moves to the DLQ (with its reason, sent by the watcher)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1-1000."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the tenant key is deleted (offboarding = crypto-shredding of its landing data)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "AWS accepts 7 to 30 days."
  }
}

variable "tags" {
  description = "Tags added to every resource (the module adds airlock:tenant)."
  type        = map(string)
  default     = {}
}

variable "offboarded" {
  description = "The tenant left (`airlock tenant offboard`): only its KMS key (and alias) remain; its queue, roles and policies go."
  type        = bool
  default     = false
  nullable    = false
}
