# Shapes the stack's outputs into the one object the kit reads (`terraform output -json airlock`,
# mapped to AIRLOCK_* by airlock.infra.outputs). Both envs use it, so local and prod cannot drift
# in shape, and the templates below are checked against every real name.
locals {
  # arn:aws:sqs:<region>:<account>:<name>: the AWS-style URL works against AWS and, with the
  # connection's endpoint_url, against a local endpoint too.
  sqs_account      = split(":", var.shared_queue.arn)[4]
  shared_queue_url = format("https://sqs.%s.amazonaws.com/%s/%s", var.region, local.sqs_account, var.shared_queue.name)
  # The dedicated tier's queues; set even with no dedicated tenant yet, so adding one is a settings change only.
  queue_url_template = format("https://sqs.%s.amazonaws.com/%s/%s-{tenant}-landing", var.region, local.sqs_account, var.name_prefix)
  dedicated_tenants  = sort([for id, t in var.tenants : id if t.queue_name != null])
  # Snapshot files are written with the tenant's own key, named by its alias (modules/tenant: alias/<prefix>-<id>).
  tenant_key_template = format(
    "arn:%s:kms:%s:%s:alias/%s-{tenant}", split(":", var.shared_queue.arn)[1], var.region, local.sqs_account, var.name_prefix
  )

  any_task_role = var.ecs == null ? null : try(values(var.ecs.task_role_arns)[0], null)
  task_role_arn_template = local.any_task_role == null ? null : format(
    "%s/%s-{tenant}-processing", split("/", local.any_task_role)[0], var.name_prefix
  )

  settings = {
    env                 = var.env_name
    region              = var.region
    landing_url         = "s3://${var.bucket_names.landing}"
    raw_url             = "s3://${var.bucket_names.raw}"
    quarantine_url      = "s3://${var.bucket_names.quarantine}"
    shared_queue_url    = local.shared_queue_url
    queue_url_template  = local.queue_url_template
    dedicated_tenants   = local.dedicated_tenants
    tenant_key_template = local.tenant_key_template
    tenants             = var.tenants
    ecs = var.ecs == null ? null : merge(var.ecs, {
      task_role_arn_template = local.task_role_arn_template
    })
  }
}

# Templates are what the DAGs use; a queue whose real name differs would silently get no watcher.
# (Names are checked here; the integration test also checks real URLs and ARNs against them.)
resource "terraform_data" "template_checks" {
  input = local.queue_url_template

  lifecycle {
    precondition {
      condition     = alltrue([for id in local.dedicated_tenants : var.tenants[id].queue_name == "${var.name_prefix}-${id}-landing"])
      error_message = "A dedicated tenant's queue name does not match AIRLOCK_QUEUE_URL_TEMPLATE (<prefix>-{tenant}-landing)."
    }
    precondition {
      condition     = var.shared_queue.name == "${var.name_prefix}-shared-landing"
      error_message = "The shared queue is not named <prefix>-shared-landing (docs/contracts.md)."
    }
    precondition {
      condition     = var.ecs == null ? true : length(setsubtract(keys(var.ecs.task_role_arns), keys(var.tenants))) == 0
      error_message = "ECS has a task role for a tenant that is not in the registry."
    }
  }
}
