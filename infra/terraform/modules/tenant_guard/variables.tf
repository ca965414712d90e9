variable "env_name" {
  description = "The environment whose tenant keys are read (their airlock:env tag)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.env_name))
    error_message = "env_name: lowercase letters, digits and '-', 2-16 chars."
  }
}

variable "known_tenant_ids" {
  description = "Every tenant the registry accounts for, active or offboarded (module.registry.known_tenant_ids)."
  type        = list(string)
  nullable    = false
}
