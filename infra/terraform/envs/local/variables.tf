variable "endpoint_url" {
  description = "The local AWS endpoint (moto server) every AWS API call goes to."
  type        = string
  default     = "http://127.0.0.1:5000"

  validation {
    condition     = can(regex("^https?://", var.endpoint_url))
    error_message = "endpoint_url must be an http(s) URL, e.g. http://127.0.0.1:5000."
  }
}

variable "region" {
  description = "Region reported to and by the local endpoint."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "env_name" {
  description = "Environment name: names become airlock-<env_name>-* (docs/contracts.md)."
  type        = string
  default     = "local"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.env_name))
    error_message = "env_name: lowercase letters, digits and '-', 2-16 chars."
  }
}

variable "tenants_dir" {
  description = "Tenant registry folder; null means the repository's dags/registry/tenants."
  type        = string
  default     = null
}

variable "dataflows_dir" {
  description = "Dataflow registry folder; null means the repository's dags/registry/dataflows."
  type        = string
  default     = null
}

variable "enable_ecs" {
  description = "Create the ECS cluster and task definition (cheap on the local endpoint; gives the DAGs real ECS settings)."
  type        = bool
  default     = true
}

variable "enable_audit" {
  description = "Create CloudTrail and its log groups. Off locally: it only adds apply time; it is validated and unit-tested instead."
  type        = bool
  default     = false
}
