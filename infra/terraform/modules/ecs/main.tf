resource "aws_kms_key" "logs" {
  description             = "${var.name_prefix}: ECS task logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersViaIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypts"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/airlock/${var.name_prefix}/*" }
        }
      },
    ]
  })
  tags = var.tags
}

resource "aws_cloudwatch_log_group" "tasks" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = var.tags
}

# The runner image (Dockerfile.runner): pushed by the deploy workflow, tag = git commit, never overwritten.
resource "aws_ecr_repository" "runner" {
  count                = var.create_ecr_repository ? 1 : 0
  name                 = "${var.name_prefix}-runner"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "runner" {
  count      = var.create_ecr_repository ? 1 : 0
  repository = aws_ecr_repository.runner[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 50 newest images (a rollback target for weeks of deploys)"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

# Which runner image the task definition runs. The deploy workflow writes it after each push (and registers
# a task definition revision with it); Terraform reads it back, so neither undoes the other.
resource "aws_ssm_parameter" "runner_image" {
  name           = "/airlock/${var.name_prefix}/runner-image"
  description    = "The runner image the dbt task definition runs (written by the deploy workflow)"
  type           = "String"
  insecure_value = local.initial_image
  tags           = var.tags

  lifecycle {
    ignore_changes = [insecure_value]
  }
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name_prefix}-transforms"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: the DAG's ECS operator passes it in awsvpc networkConfiguration (output security_group_ids).
  name        = "${var.name_prefix}-transforms"
  description = "airlock transform tasks: no inbound, HTTPS out only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(var.egress_cidr_blocks)
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs and the warehouse"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

# Execution role: what ECS itself needs to start the container (pull, write logs). The tenant's
# data access lives in its task role, passed per run.
resource "aws_iam_role" "execution" {
  name = "${var.name_prefix}-transforms-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-and-log"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "WriteTaskLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.tasks.arn}:log-stream:*"
      }],
      [for s in [
        {
          # GetAuthorizationToken has no resource-level permissions: "*" is the only valid Resource.
          Sid      = "EcrLogin"
          Effect   = "Allow"
          Action   = "ecr:GetAuthorizationToken"
          Resource = "*"
        },
        {
          Sid      = "PullImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
          Resource = local.ecr_repository_arn
        },
      ] : s if local.ecr_repository_arn != null],
      # The task definition's `secrets`: ECS fetches them with this role when the container starts.
      [for s in [{
        Sid      = "ReadContainerSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "ssm:GetParameters"]
        Resource = local.secret_arns
      }] : s if length(local.secret_arns) > 0],
      [for s in [{
        Sid       = "DecryptContainerSecrets"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = var.secrets_kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      }] : s if var.secrets_kms_key_arn != null]
    )
  })
}

resource "aws_ecs_task_definition" "dbt" {
  family                   = local.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  # No default task role: each run names its tenant's role (output task_role_arns), so a run
  # without one has no data access at all.

  # ENTRYPOINT `python -m airlock.isolation` (Dockerfile.runner); each run's overrides give its arguments.
  container_definitions = jsonencode([{
    name                   = var.container_name
    image                  = aws_ssm_parameter.runner_image.insecure_value
    essential              = true
    secrets                = [for name in sort(keys(var.container_secrets)) : { name = name, valueFrom = var.container_secrets[name] }]
    environment            = [for name in sort(keys(var.container_environment)) : { name = name, value = var.container_environment[name] }]
    readonlyRootFilesystem = true
    privileged             = false
    user                   = "1000"
    # dbt writes target/ and logs/: give it a scratch volume instead of a writable root.
    mountPoints = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks.name
        awslogs-region        = local.region
        awslogs-stream-prefix = var.container_name
      }
    }
  }])

  volume {
    name = "scratch"
  }

  tags = var.tags
}
