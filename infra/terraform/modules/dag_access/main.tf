# The DAGs' AWS permissions, written once and attached to whichever identity runs them (the MWAA
# execution role, or the role Astro's workload identity assumes), so both targets grant exactly
# the same thing. Queues are matched by name so onboarding a tenant changes no policy.
locals {
  # <prefix>-shared-landing and every <prefix>-<tenant>-landing (dedicated tier).
  tenant_queues = "arn:${var.partition}:sqs:${var.region}:${var.account_id}:${var.name_prefix}-*-landing"
  dead_letters  = "arn:${var.partition}:sqs:${var.region}:${var.account_id}:${var.name_prefix}-*-landing-dlq"
  via_services  = ["sqs.${var.region}.amazonaws.com", "s3.${var.region}.amazonaws.com"]
  ecs           = var.ecs == null ? [] : [var.ecs]

  statements = concat(
    [
      {
        # Delete: a quarantined file, and a snapshotted batch once processing claimed it, leave landing
        # (conditional on the ETag the snapshot recorded; versioning keeps the deleted versions).
        Sid      = "ReadLanding"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:ListBucket", "s3:DeleteObject"]
        Resource = [var.bucket_arns.landing, "${var.bucket_arns.landing}/*"]
      },
      {
        # Snapshots and quarantine copies; _SNAPSHOT.json claims use conditional writes.
        Sid      = "WriteRawAndQuarantine"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
        Resource = [var.bucket_arns.raw, "${var.bucket_arns.raw}/*", var.bucket_arns.quarantine, "${var.bucket_arns.quarantine}/*"]
      },
      {
        Sid      = "WatchTenantQueues"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"]
        Resource = local.tenant_queues
      },
      {
        # The watcher moves a message it can never parse to the queue's DLQ, with its reason.
        Sid      = "DeadLetterRejects"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
        Resource = local.dead_letters
      },
      {
        Sid       = "TenantAndStorageKeys"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = var.kms_key_arns
        Condition = { StringEquals = { "kms:ViaService" = local.via_services } }
      },
    ],
    [for e in local.ecs : {
      Sid       = "RunTransformTasks"
      Effect    = "Allow"
      Action    = "ecs:RunTask"
      Resource  = "arn:${var.partition}:ecs:${var.region}:${var.account_id}:task-definition/${e.task_definition_family}:*"
      Condition = { ArnEquals = { "ecs:cluster" = e.cluster_arn } }
    }],
    [for e in local.ecs : {
      Sid       = "WatchTransformTasks"
      Effect    = "Allow"
      Action    = ["ecs:DescribeTasks", "ecs:StopTask"]
      Resource  = "arn:${var.partition}:ecs:${var.region}:${var.account_id}:task/*"
      Condition = { ArnEquals = { "ecs:cluster" = e.cluster_arn } }
    }],
    [for e in local.ecs : {
      Sid       = "PassTenantTaskRoles"
      Effect    = "Allow"
      Action    = "iam:PassRole"
      Resource  = concat(values(e.task_role_arns), [e.execution_role_arn])
      Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
    }],
    [for e in local.ecs : {
      Sid      = "ReadTransformLogs"
      Effect   = "Allow"
      Action   = "logs:GetLogEvents"
      Resource = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${e.log_group_name}:log-stream:*"
    }],
  )
}
