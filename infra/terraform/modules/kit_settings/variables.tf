variable "env_name" {
  description = "Environment name (AIRLOCK_ENV)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.env_name))
    error_message = "env_name: lowercase letters, digits and '-', 2-16 chars."
  }
}

variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`."
  type        = string

  validation {
    condition     = length(var.name_prefix) > 0
    error_message = "name_prefix must not be empty."
  }
}

variable "region" {
  description = "AWS region of the stack."
  type        = string

  validation {
    condition     = length(var.region) > 0
    error_message = "region must not be empty."
  }
}

variable "bucket_names" {
  description = "landing_zone output bucket_names."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["landing", "raw", "quarantine"] : contains(keys(var.bucket_names), k)])
    error_message = "bucket_names needs landing, raw and quarantine."
  }
}

variable "shared_queue" {
  description = "landing_zone output shared_queue (name, url, arn, dlq_arn): the standard tier's queue."
  type = object({
    name    = string
    url     = string
    arn     = string
    dlq_arn = string
  })

  validation {
    condition     = startswith(var.shared_queue.arn, "arn:")
    error_message = "shared_queue.arn must be an SQS queue ARN."
  }
}

variable "tenants" {
  description = "Per tenant: queue_name, queue_url, queue_arn (null for the standard tier), kms_key_arn, upload_role_arn, processing_role_arn (tenant module outputs)."
  type = map(object({
    queue_name          = string
    queue_url           = string
    queue_arn           = string
    kms_key_arn         = string
    upload_role_arn     = string
    processing_role_arn = string
  }))
}

variable "ecs" {
  description = "ecs module outputs, or null where tasks do not run on ECS."
  type = object({
    cluster_name           = string
    task_definition_family = string
    container_name         = string
    subnet_ids             = list(string)
    security_group_ids     = list(string)
    log_group_name         = string
    log_stream_prefix      = string
    task_role_arns         = map(string)
  })
  default = null
}
