variable "region" {
  description = "AWS region of envs/prod."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "env_name" {
  description = "Environment name (same as envs/prod)."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.env_name))
    error_message = "env_name: lowercase letters, digits and '-', 2-16 chars."
  }
}

variable "prod_state" {
  description = "Where envs/prod keeps its state (S3 backend settings), to read its outputs."
  type = object({
    bucket = string
    key    = string
    region = string
  })
}

variable "kit_env" {
  description = "AIRLOCK_* settings for the Astro deployment: `airlock infra output --env prod --format tfvars-json > kit_env.auto.tfvars.json`."
  type        = map(string)
}

variable "enable_astro" {
  description = "Create the Astro workspace and deployment (the Astro target instead of MWAA)."
  type        = bool
  default     = true
}

variable "contact_emails" {
  description = "Who Astro alerts notify."
  type        = list(string)
}

variable "datadog_site" {
  description = "Datadog site."
  type        = string
  default     = "datadoghq.eu"
}

variable "datadog_api_key" {
  description = "Datadog API key (stored in Secrets Manager for Firehose). Set via TF_VAR_datadog_api_key."
  type        = string
  sensitive   = true
  default     = null
}

variable "event_push" {
  description = "Switch on the push path (modules/event_push): uploads go S3 -> EventBridge -> POST /api/v2/assets/events on the Astro deployment, no polling. Null (default) keeps the queue watchers alone. airflow_api_url: the deployment's API base URL; landing_asset_id: GET /api/v2/assets?name_pattern=landing; api_token_secret_arn: the Secrets Manager secret holding a token scoped to asset events."
  type = object({
    airflow_api_url      = string
    landing_asset_id     = number
    api_token_secret_arn = string
  })
  default = null
}
