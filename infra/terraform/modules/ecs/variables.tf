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
  description = "The dbt / heavy-transform image (ECR URI with tag or digest) the tasks run."
  type        = string

  validation {
    condition     = length(var.image) > 0 && !endswith(var.image, ":latest")
    error_message = "Pin the image by tag or digest; ':latest' makes runs unreproducible."
  }
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository holding the image, to scope the execution role's pull permissions. Null when the image is public."
  type        = string
  default     = null

  validation {
    condition     = var.ecr_repository_arn == null || can(regex("^arn:aws[a-z-]*:ecr:", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN."
  }
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
