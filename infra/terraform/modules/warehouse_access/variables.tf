variable "name_prefix" {
  description = "Prefix of every name: airlock-<env>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name_prefix))
    error_message = "name_prefix: lowercase letters, digits and '-' (e.g. airlock-prod)."
  }
}

variable "warehouse" {
  description = "The deployment's warehouse (AIRLOCK_WAREHOUSE): local, postgres, snowflake or redshift. Decides which reader role is created."
  type        = string

  validation {
    condition     = contains(["local", "postgres", "snowflake", "redshift"], var.warehouse)
    error_message = "warehouse must be one of local, postgres, snowflake, redshift."
  }
}

variable "secret_prefix" {
  description = "Secrets Manager name prefix of the kit's secrets; the Airflow secrets backend reads connections under <secret_prefix>/connections/. The MWAA execution role may read this prefix only."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*(/[a-z0-9-]+)*$", var.secret_prefix))
    error_message = "secret_prefix: lowercase path segments separated by '/', e.g. airlock/prod."
  }
}

variable "tenant_ids" {
  description = "Tenants (from the registry) that get their own connection secret airlock_warehouse_<tenant>: a login that can act as that tenant only. Required on Redshift (isolation per database user)."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.tenant_ids : can(regex("^[a-z][a-z0-9_]{1,31}$", t))])
    error_message = "tenant_ids must be registry tenant ids (lowercase identifiers)."
  }
}

variable "raw_bucket_arn" {
  description = "ARN of the raw (snapshot) bucket the warehouse reads from (Snowflake stage, Redshift COPY)."
  type        = string

  validation {
    condition     = startswith(var.raw_bucket_arn, "arn:")
    error_message = "raw_bucket_arn must be an ARN."
  }
}

variable "raw_prefix" {
  description = "Key prefix under the raw bucket that the kit writes (empty: the whole bucket)."
  type        = string
  default     = ""
}

variable "storage_kms_key_arn" {
  description = "KMS key that encrypts the raw bucket: the warehouse's reader role may decrypt with it (via S3 only)."
  type        = string
}

variable "snowflake_iam_user_arn" {
  description = "STORAGE_AWS_IAM_USER_ARN of the Snowflake storage integration (`desc integration AIRLOCK_RAW`). Null until the integration exists: the reader role is then not created yet (its ARN is already an output)."
  type        = string
  default     = null
}

variable "snowflake_external_id" {
  description = "STORAGE_AWS_EXTERNAL_ID of the Snowflake storage integration; required with snowflake_iam_user_arn."
  type        = string
  default     = null
  sensitive   = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
