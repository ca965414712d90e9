variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: the trail is <prefix>-audit."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "data_event_bucket_arns" {
  description = "Buckets whose object-level (data) events are recorded: landing and raw."
  type        = list(string)

  validation {
    condition     = length(var.data_event_bucket_arns) > 0 && alltrue([for a in var.data_event_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", a))])
    error_message = "Give at least one S3 bucket ARN."
  }
}

variable "access_log_bucket_name" {
  description = "Bucket that receives the trail bucket's server access logs (landing_zone's access_logs)."
  type        = string

  validation {
    condition     = length(var.access_log_bucket_name) >= 3
    error_message = "access_log_bucket_name must be a bucket name."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups and of trail files in S3 (audit evidence: at least 365 days)."
  type        = number
  default     = 365

  validation {
    condition     = var.log_retention_days >= 365
    error_message = "Audit logs must be kept at least 365 days."
  }
}

variable "force_destroy" {
  description = "Allow destroy to empty the trail bucket. Throwaway environments only."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
