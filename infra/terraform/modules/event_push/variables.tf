variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: the rule, connection and destination become <prefix>-landing-push."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "landing_bucket_name" {
  description = "The landing bucket (landing_zone output bucket_names.landing): its uploads are pushed. Its EventBridge notification is on (landing_zone)."
  type        = string
  nullable    = false
}

variable "airflow_api_url" {
  description = "Base URL of the Airflow deployment's REST API, e.g. https://<org>.astronomer.run/<deployment-id> (the module appends /api/v2/assets/events)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https://", var.airflow_api_url))
    error_message = "airflow_api_url must be an https URL: the bearer token must not travel in clear."
  }
}

variable "landing_asset_id" {
  description = "The numeric id of the `landing` asset in that deployment (GET /api/v2/assets?name_pattern=landing): POST /api/v2/assets/events takes an id, not a name."
  type        = number
  nullable    = false

  validation {
    condition     = var.landing_asset_id >= 1 && floor(var.landing_asset_id) == var.landing_asset_id
    error_message = "landing_asset_id is a positive integer."
  }
}

variable "api_token_secret_arn" {
  description = "Secrets Manager secret holding the API token (its SecretString is the bare token). Scope it to creating asset events, e.g. an Astro deployment API token with a custom role allowing only that."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:", var.api_token_secret_arn))
    error_message = "api_token_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "invocation_rate_limit_per_second" {
  description = "Most requests per second EventBridge sends to the API (bursts above wait in EventBridge, retried for up to 24 h)."
  type        = number
  default     = 50

  validation {
    condition     = var.invocation_rate_limit_per_second >= 1 && var.invocation_rate_limit_per_second <= 300
    error_message = "invocation_rate_limit_per_second must be 1-300."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}
