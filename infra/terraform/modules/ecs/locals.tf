locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  family    = "${var.name_prefix}-dbt"
  log_group = "/airlock/${var.name_prefix}/ecs/dbt"

  ecr_repository_arn = var.create_ecr_repository ? aws_ecr_repository.runner[0].arn : var.ecr_repository_arn
  initial_image      = coalesce(var.image, var.create_ecr_repository ? "${aws_ecr_repository.runner[0].repository_url}:bootstrap" : "unset")
  # A valueFrom may address one JSON key (`<secret arn>:<key>::`); IAM wants the secret's own ARN.
  secret_arns = distinct([
    for from in values(var.container_secrets) :
    startswith(from, "arn:aws") && strcontains(from, ":secretsmanager:") ? join(":", slice(split(":", from), 0, 7)) : from
  ])
}
