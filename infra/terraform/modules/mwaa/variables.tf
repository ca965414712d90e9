variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`: the environment is <prefix>-airflow."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "airflow_version" {
  description = "MWAA Airflow version: the kit needs 3.3.x (partitioned assets, SQS asset watchers)."
  type        = string
  default     = "3.3.2"

  validation {
    condition     = can(regex("^3\\.3\\.[0-9]+$", var.airflow_version))
    error_message = "airflow_version must be 3.3.x."
  }
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.medium"

  validation {
    condition     = contains(["mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge"], var.environment_class)
    error_message = "environment_class must be one of mw1.micro, small, medium, large, xlarge, 2xlarge."
  }
}

variable "min_workers" {
  description = "Minimum Celery workers."
  type        = number
  default     = 1

  validation {
    condition     = var.min_workers >= 1
    error_message = "min_workers must be at least 1."
  }
}

variable "max_workers" {
  description = "Maximum Celery workers."
  type        = number
  default     = 5

  validation {
    condition     = var.max_workers >= 1 && var.max_workers <= 25
    error_message = "max_workers must be 1-25."
  }
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must look like vpc-..."
  }
}

variable "private_subnet_ids" {
  description = "Exactly two private subnets in different AZs (an MWAA requirement)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 2
    error_message = "MWAA needs exactly two private subnets."
  }
}

variable "access_log_bucket_name" {
  description = "Bucket receiving the source bucket's server access logs (landing_zone's access_logs)."
  type        = string

  validation {
    condition     = length(var.access_log_bucket_name) >= 3
    error_message = "access_log_bucket_name must be a bucket name."
  }
}

variable "requirements_s3_path" {
  description = "Key of requirements.txt in the source bucket, or null."
  type        = string
  default     = "requirements.txt"
}

variable "startup_script_s3_path" {
  description = "Key of startup.sh in the source bucket (builds the dbt venv; maps AIRFLOW__AIRLOCK__* to AIRLOCK_*), or null."
  type        = string
  default     = "startup.sh"
}

variable "plugins_s3_path" {
  description = "Key of plugins.zip in the source bucket (airlock package mwaa builds it when plugins/ has files), or null."
  type        = string
  default     = "plugins.zip"
}

variable "source_object_versions" {
  description = "S3 object versions printed by `airlock deploy mwaa` (keys: requirements, startup_script, plugins); null means latest."
  type = object({
    requirements   = optional(string)
    startup_script = optional(string)
    plugins        = optional(string)
  })
  default = {}
}

variable "bucket_arns" {
  description = "landing_zone bucket ARNs: landing (read), raw and quarantine (read/write)."
  type = object({
    landing    = string
    raw        = string
    quarantine = string
  })
}

variable "storage_kms_key_arn" {
  description = "Key of raw/quarantine (landing_zone output)."
  type        = string

  validation {
    condition     = startswith(var.storage_kms_key_arn, "arn:")
    error_message = "storage_kms_key_arn must be a KMS key ARN."
  }
}

variable "tenant_kms_key_arns" {
  description = "Tenant keys and the shared queue's events key: the router decrypts landing objects and queue messages with them."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.tenant_kms_key_arns : startswith(a, "arn:")])
    error_message = "tenant_kms_key_arns must be KMS key ARNs."
  }
}

variable "ecs" {
  description = "ECS settings the DAGs launch transforms with (ecs module outputs), or null when transforms run elsewhere."
  type = object({
    cluster_arn            = string
    task_definition_family = string
    execution_role_arn     = string
    task_role_arns         = map(string)
    log_group_name         = string
  })
  default = null
}

variable "kit_settings" {
  description = "AIRLOCK_* settings for the DAGs (airlock.infra.outputs.outputs_to_env), set as Airflow options `airlock.<name>`; the startup script exports them as AIRLOCK_<NAME>."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.kit_settings) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "kit_settings keys are lowercase setting names without the AIRLOCK_ prefix (e.g. landing_url)."
  }
}

variable "secrets_read_policy_json" {
  description = "IAM policy that reads the kit's Secrets Manager prefix only (modules/warehouse_access read_secrets_policy_json); null: the execution role reads no secret."
  type        = string
  default     = null
}

variable "airflow_configuration_options" {
  description = "Extra Airflow options (section.key => value), merged over the kit's defaults."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "Level of every MWAA component's CloudWatch log."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], var.log_level)
    error_message = "log_level must be CRITICAL, ERROR, WARNING, INFO or DEBUG."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
