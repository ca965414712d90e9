variable "tenants_dir" {
  description = "Folder holding one <tenant_id>.yaml per tenant (the same files the DAGs read). Files starting with '_' are ignored, as in airlock.tenants."
  type        = string
  nullable    = false

  validation {
    condition     = length(fileset(var.tenants_dir, "*.yaml")) > 0
    error_message = "tenants_dir holds no *.yaml file: point it at dags/registry/tenants."
  }
}

variable "dataflows_dir" {
  description = "Folder holding one <dataflow>.yaml per dataflow (dags/registry/dataflows)."
  type        = string
  nullable    = false

  validation {
    condition     = length(fileset(var.dataflows_dir, "*.yaml")) > 0
    error_message = "dataflows_dir holds no *.yaml file: point it at dags/registry/dataflows."
  }
}

variable "offboarded_dir" {
  description = "Folder of the offboarded tenants' files (`airlock tenant offboard` moves them there); null means offboarded/ beside tenants_dir."
  type        = string
  default     = null
}
