variable "name_prefix" {
  description = "Prefix of every name, `airlock-<env>`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be lowercase letters, digits and '-', 3-41 chars."
  }
}

variable "image" {
  description = "The runner image (Dockerfile.runner) the first task definition runs, pinned by tag or digest. Null: this module's ECR repository at tag `bootstrap`. Deploys move it (the deploy workflow updates the runner-image parameter and registers a new revision); Terraform then follows the parameter."
  type        = string
  default     = null

  validation {
    condition     = var.image == null || (length(coalesce(var.image, "x")) > 0 && !endswith(coalesce(var.image, "x"), ":latest"))
    error_message = "Pin the image by tag or digest; ':latest' makes runs unreproducible."
  }
}

variable "create_ecr_repository" {
  description = "Create the ECR repository the deploy workflow pushes the runner image to (`<name_prefix>-runner`). False: bring your own and set ecr_repository_arn."
  type        = bool
  default     = true
}

variable "ecr_repository_arn" {
  description = "ARN of an existing ECR repository holding the image (create_ecr_repository = false), to scope the execution role's pull permissions. Null with a public image."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_arn == null || can(regex("^arn:aws[a-z-]*:ecr:", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN."
  }
}

variable "container_secrets" {
  description = "Environment variables the container gets from Secrets Manager or SSM (task definition `secrets`): name => valueFrom, e.g. AIRLOCK_PG_PASSWORD => \"arn:aws:secretsmanager:…:secret:airlock/prod/warehouse-AbCdEf:password::\". Warehouse credentials go here, never into overrides or the image (docs/deploy.md lists the names)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for name, from in var.container_secrets :
      can(regex("^[A-Z_][A-Z0-9_]*$", name)) && can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", from))
    ])
    error_message = "container_secrets: UPPER_CASE names => Secrets Manager or SSM parameter ARNs."
  }
}

variable "container_environment" {
  description = "Plain (non-secret) environment of the container, e.g. AIRLOCK_PG_HOST, AIRLOCK_DBT_TARGET. Per-run values (tenant, batch) come from the operator's overrides."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.container_environment) : can(regex("^[A-Z_][A-Z0-9_]*$", name)) && !can(regex("(PASSWORD|SECRET|TOKEN|PRIVATE_KEY)", name))])
    error_message = "container_environment: UPPER_CASE names, and no credentials (PASSWORD/SECRET/TOKEN/PRIVATE_KEY): put those in container_secrets."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key of the secrets in container_secrets, if any (the execution role may decrypt through Secrets Manager only)."
  type        = string
  default     = null
}

variable "container_name" {
  description = "Name of the container in the task definition: the ECS operator's overrides address it."
  type        = string
  default     = "dbt"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,255}$", var.container_name))
    error_message = "container_name: letters, digits, '-' and '_'."
  }
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Fargate task memory (MiB), compatible with cpu."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be 512-122880 MiB."
  }
}

variable "vpc_id" {
  description = "VPC of the task subnets (for the tasks' security group)."
  type        = string

  validation {
    condition     = startswith(var.vpc_id, "vpc-")
    error_message = "vpc_id must look like vpc-..."
  }
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in (awsvpc)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : startswith(s, "subnet-")])
    error_message = "Give at least one subnet id (subnet-...)."
  }
}

variable "egress_cidr_blocks" {
  description = "Where tasks may open HTTPS connections (AWS APIs through NAT or VPC endpoints, the warehouse)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrnetmask(c))])
    error_message = "egress_cidr_blocks must be CIDR blocks."
  }
}

variable "task_role_arns" {
  description = "Per-tenant task roles (tenant module's processing_role_arn), passed as taskRoleArn at RunTask so a tenant's run only reads its own snapshots."
  type        = map(string)

  validation {
    condition     = alltrue([for a in values(var.task_role_arns) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "task_role_arns values must be IAM role ARNs."
  }
}

variable "log_retention_days" {
  description = "Retention of the task log group (audit: at least 365 days)."
  type        = number
  default     = 365

  validation {
    condition     = var.log_retention_days >= 365
    error_message = "Keep task logs at least 365 days."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
