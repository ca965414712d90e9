locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  family    = "${var.name_prefix}-dbt"
  log_group = "/airlock/${var.name_prefix}/ecs/dbt"
}
