variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "datadog_site" {
  description = "Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, ...): picks the intake URLs."
  type        = string
  default     = "datadoghq.com"

  validation {
    condition     = contains(["datadoghq.com", "datadoghq.eu", "us3.datadoghq.com", "us5.datadoghq.com", "ap1.datadoghq.com", "ddog-gov.com"], var.datadog_site)
    error_message = "datadog_site must be a Datadog site name."
  }
}

variable "datadog_aws_account_id" {
  description = "Datadog's AWS account that assumes the integration role (464622532012 for commercial sites)."
  type        = string
  default     = "464622532012"

  validation {
    condition     = can(regex("^[0-9]{12}$", var.datadog_aws_account_id))
    error_message = "datadog_aws_account_id must be 12 digits."
  }
}

variable "external_id" {
  description = "External id Datadog shows when the AWS integration is created (datadog_integration_aws_account): the confused-deputy guard of the integration role."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.external_id) >= 8
    error_message = "external_id looks too short: copy it from the Datadog AWS integration."
  }
}

variable "api_key" {
  description = "Datadog API key, stored in Secrets Manager and used by Firehose. Null to create the secret empty and fill it out of band."
  type        = string
  default     = null
  sensitive   = true
}

variable "log_group_names" {
  description = "CloudWatch log groups forwarded to Datadog (MWAA components, ECS tasks, CloudTrail)."
  type        = list(string)
  default     = []
}

variable "metric_namespaces" {
  description = "CloudWatch namespaces the metric stream sends (the kit's queues, buckets, MWAA, ECS)."
  type        = list(string)
  default     = ["AWS/SQS", "AWS/S3", "AmazonMWAA", "AWS/ECS", "ECS/ContainerInsights"]

  validation {
    condition     = length(var.metric_namespaces) > 0
    error_message = "Stream at least one namespace."
  }
}

variable "backup_retention_days" {
  description = "Days failed deliveries are kept in the backup bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_retention_days >= 1
    error_message = "backup_retention_days must be at least 1."
  }
}

variable "access_log_bucket_name" {
  description = "Bucket receiving the backup bucket's server access logs."
  type        = string

  validation {
    condition     = length(var.access_log_bucket_name) >= 3
    error_message = "access_log_bucket_name must be a bucket name."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
