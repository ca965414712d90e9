variable "name" {
  description = "Bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for default encryption (SSE-KMS with a bucket key)."
  type        = string
}

variable "access_log_bucket_name" {
  description = "Bucket receiving this bucket's server access logs, under the prefix `<name>/`."
  type        = string
}

variable "lifecycle_rule_id" {
  description = "Id of the bucket's one lifecycle rule (says what the retention is for)."
  type        = string
}

variable "expiration_days" {
  description = "Delete current objects after this many days; null keeps them."
  type        = number
  default     = null
}

variable "noncurrent_days" {
  description = "Delete previous object versions after this many days."
  type        = number
}

variable "glacier_ir_after_days" {
  description = "Move current objects to Glacier Instant Retrieval after this many days; null never."
  type        = number
  default     = null
}

variable "extra_policy_statements" {
  description = "Bucket policy statements added after the TLS-only deny (e.g. a service's write grant)."
  type        = any
  default     = []
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a non-empty bucket (test environments only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
