variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "workspace_name" {
  description = "Astro workspace to create for airlock."
  type        = string
  default     = "airlock"

  validation {
    condition     = length(var.workspace_name) > 0
    error_message = "workspace_name must not be empty."
  }
}

variable "region" {
  description = "AWS region of the Astro standard deployment (same as the data stack, so S3/SQS stay in-region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "runtime_version" {
  description = "Astro Runtime version of the deployment (Airflow 3.3.x)."
  type        = string
  default     = "3.3-1"

  validation {
    condition     = can(regex("^3\\.3-[0-9]+$", var.runtime_version))
    error_message = "runtime_version must be an Airflow 3.3 runtime, e.g. 3.3-1."
  }
}

variable "contact_emails" {
  description = "Who Astro and the alerts notify."
  type        = list(string)

  validation {
    condition     = length(var.contact_emails) > 0 && alltrue([for e in var.contact_emails : can(regex("^[^@]+@[^@]+$", e))])
    error_message = "Give at least one e-mail address."
  }
}

variable "scheduler_size" {
  description = "Scheduler size."
  type        = string
  default     = "SMALL"

  validation {
    condition     = contains(["SMALL", "MEDIUM", "LARGE", "EXTRA_LARGE"], var.scheduler_size)
    error_message = "scheduler_size must be SMALL, MEDIUM, LARGE or EXTRA_LARGE."
  }
}

variable "kit_env" {
  description = "AIRLOCK_* settings (airlock.infra.outputs.outputs_to_env, without the connection) set as deployment environment variables."
  type        = map(string)

  validation {
    condition     = alltrue([for k in keys(var.kit_env) : startswith(k, "AIRLOCK_")])
    error_message = "kit_env keys are AIRLOCK_* variables."
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
}

variable "dag_failure_alert_dag_ids" {
  description = "DAG ids whose failures page (defaults to the router and reconcile DAGs)."
  type        = list(string)
  default     = ["airlock_router", "airlock_reconcile"]
}

variable "tags" {
  description = "Tags added to AWS resources."
  type        = map(string)
  default     = {}
}
