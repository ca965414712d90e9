variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "env_name" {
  description = "Environment name: names become airlock-<env_name>-*."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.env_name))
    error_message = "env_name: lowercase letters, digits and '-', 2-16 chars."
  }
}

variable "vpc_id" {
  description = "Existing VPC for MWAA and ECS tasks (networking is owned by the platform team)."
  type        = string

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must look like vpc-..."
  }
}

variable "private_subnet_ids" {
  description = "Two private subnets in different AZs (MWAA needs exactly two; ECS tasks use the same)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 2
    error_message = "Give exactly two private subnets."
  }
}

variable "transform_image" {
  description = "dbt / heavy-transform image (ECR URI pinned by tag or digest)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository of transform_image (scopes the pull permission)."
  type        = string
  default     = null
}

variable "tenant_upload_principals" {
  description = "Per tenant id: AWS principals allowed to assume its upload role (tenant accounts/SSO roles). A tenant missing here gets this account's root (IAM decides)."
  type        = map(list(string))
  default     = {}
}

variable "enable_mwaa" {
  description = "Run the DAGs on MWAA (off when the deployment target is Astro: envs/prod-saas)."
  type        = bool
  default     = true
}

variable "enable_audit" {
  description = "CloudTrail with S3 data events on landing and raw."
  type        = bool
  default     = true
}

variable "raw_retention_days" {
  description = "Object Lock GOVERNANCE retention of raw snapshots."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "warehouse" {
  description = "Where batches load and dbt builds (AIRLOCK_WAREHOUSE): postgres, snowflake or redshift (local is the laptop's DuckDB)."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["local", "postgres", "snowflake", "redshift"], var.warehouse)
    error_message = "warehouse must be one of local, postgres, snowflake, redshift."
  }
}

variable "warehouse_tenant_connections" {
  description = "Create a connection secret per tenant (airlock_warehouse_<tenant>), so each tenant's loads and dbt log in as that tenant only. Required for isolation on Redshift."
  type        = bool
  default     = true
}

variable "snowflake_iam_user_arn" {
  description = "Snowflake only: STORAGE_AWS_IAM_USER_ARN of the storage integration (desc integration AIRLOCK_RAW); null before it exists."
  type        = string
  default     = null
}

variable "snowflake_external_id" {
  description = "Snowflake only: STORAGE_AWS_EXTERNAL_ID of the storage integration."
  type        = string
  default     = null
  sensitive   = true
}
