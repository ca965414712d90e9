variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: the role is <prefix>-astro-workload."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "workload_identity_arn" {
  description = "The Astro deployment's workload identity (astro_deployment.workload_identity): the only principal that may assume this role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", var.workload_identity_arn))
    error_message = "workload_identity_arn must be an IAM ARN (Astro shows it on the deployment's Details page)."
  }
}

variable "bucket_arns" {
  description = "landing_zone bucket ARNs: landing, raw, quarantine."
  type = object({
    landing    = string
    raw        = string
    quarantine = string
  })
}

variable "kms_key_arns" {
  description = "Every tenant key plus the storage key."
  type        = list(string)

  validation {
    condition     = length(var.kms_key_arns) > 0
    error_message = "Give at least the storage key."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
