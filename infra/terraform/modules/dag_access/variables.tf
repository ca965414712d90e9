variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: tenant queues are matched as <prefix>-*-landing."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"

  validation {
    condition     = contains(["aws", "aws-cn", "aws-us-gov"], var.partition)
    error_message = "partition must be aws, aws-cn or aws-us-gov."
  }
}

variable "region" {
  description = "Region of the stack (kms:ViaService and ARNs)."
  type        = string

  validation {
    condition     = length(var.region) > 0
    error_message = "region must not be empty."
  }
}

variable "account_id" {
  description = "Account of the stack."
  type        = string

  validation {
    condition     = length(var.account_id) > 0
    error_message = "account_id must not be empty."
  }
}

variable "bucket_arns" {
  description = "landing_zone bucket ARNs: landing (read), raw and quarantine (read/write)."
  type = object({
    landing    = string
    raw        = string
    quarantine = string
  })
}

variable "kms_key_arns" {
  description = "Keys the DAGs decrypt/encrypt with through S3 and SQS: every tenant key plus the storage key."
  type        = list(string)

  validation {
    condition     = length(var.kms_key_arns) > 0
    error_message = "Give at least the storage key."
  }
}

variable "ecs" {
  description = "ECS target the DAGs launch transforms on (MWAA), or null (Astro runs Kubernetes pods)."
  type = object({
    cluster_arn            = string
    task_definition_family = string
    execution_role_arn     = string
    task_role_arns         = map(string)
    log_group_name         = string
  })
  default = null
}
