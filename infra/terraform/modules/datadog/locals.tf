locals {
  # fileset on a missing folder returns an empty set, so a checkout without
  # observability/monitors simply creates no monitors.
  monitor_files = try(fileset(var.monitors_dir, "*.json"), toset([]))
  monitors = {
    for f in local.monitor_files : trimsuffix(f, ".json") => jsondecode(file("${var.monitors_dir}/${f}"))
  }
  role_name = "${var.name_prefix}-datadog-integration"
}
