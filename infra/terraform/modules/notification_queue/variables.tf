variable "name" {
  description = "Queue name (docs/contracts.md): <prefix>-shared-landing or <prefix>-<tenant>-landing; the DLQ adds -dlq."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,76}$", var.name))
    error_message = "SQS names are 1-80 letters, digits, '-' and '_' (76 here, to leave room for -dlq)."
  }
}

variable "kms_key_arn" {
  description = "Key of the queue and its DLQ. Its policy must let events.amazonaws.com and sqs.amazonaws.com use it (GenerateDataKey, Decrypt)."
  type        = string
  nullable    = false

  validation {
    condition     = startswith(var.kms_key_arn, "arn:")
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "rule_name" {
  description = "Name of the EventBridge rule that feeds the queue (on the default bus): the only sender its policies allow."
  type        = string
  nullable    = false
}

variable "event_pattern" {
  description = "The rule's event pattern (an object; airlock.triggers.routing builds the same ones)."
  type        = any
  nullable    = false
}

variable "description" {
  description = "The rule's description."
  type        = string
  default     = ""
}

variable "visibility_timeout_seconds" {
  description = "Seconds a received message stays hidden (the watcher asks for AIRLOCK_WATCHER_VISIBILITY_TIMEOUT on every receive)."
  type        = number
  default     = 60
}

variable "message_retention_seconds" {
  description = "How long an unread notification is kept. The reconcile sweep recovers anything lost, so this only needs to outlast an Airflow outage."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 3600 && var.message_retention_seconds <= 1209600
    error_message = "SQS accepts 60 s to 14 days; keep at least an hour."
  }
}

variable "max_receive_count" {
  description = "Receives after which a notification the watcher cannot parse moves to the DLQ (with its reason, sent by the watcher)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1-1000."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
