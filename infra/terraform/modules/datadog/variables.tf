variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "env_name" {
  description = "Environment name, added as the `env:` tag on every monitor."
  type        = string

  validation {
    condition     = length(var.env_name) > 0
    error_message = "env_name must not be empty."
  }
}

variable "monitors_dir" {
  description = "Folder of monitors as code (Datadog API monitor JSON, one per file). Missing or empty folder = no monitors."
  type        = string
}

variable "datadog_site" {
  description = "Datadog site (datadoghq.com, datadoghq.eu, ...)."
  type        = string
  default     = "datadoghq.com"
}

variable "api_key" {
  description = "Datadog API key stored in Secrets Manager for Firehose. Null to fill the secret out of band."
  type        = string
  default     = null
  sensitive   = true
}

variable "log_group_names" {
  description = "CloudWatch log groups forwarded to Datadog."
  type        = list(string)
  default     = []
}

variable "access_log_bucket_name" {
  description = "Bucket receiving the backup bucket's server access logs."
  type        = string
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
