output "cluster_name" {
  description = "ECS cluster the DAGs run transform tasks in (AIRLOCK_ECS_CLUSTER)."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the cluster (for ecs:RunTask conditions)."
  value       = aws_ecs_cluster.this.arn
}

output "task_definition_family" {
  description = "Task definition family; RunTask with the family runs its latest revision (AIRLOCK_ECS_TASK_DEFINITION)."
  value       = aws_ecs_task_definition.dbt.family
}

output "task_definition_arn" {
  description = "ARN of the current revision."
  value       = aws_ecs_task_definition.dbt.arn
}

output "container_name" {
  description = "Container to address in overrides (AIRLOCK_ECS_CONTAINER_NAME)."
  value       = var.container_name
}

output "subnet_ids" {
  description = "Subnets for awsvpc networkConfiguration (AIRLOCK_ECS_SUBNETS)."
  value       = var.subnet_ids
}

output "security_group_ids" {
  description = "Security groups for awsvpc networkConfiguration (AIRLOCK_ECS_SECURITY_GROUPS)."
  value       = [aws_security_group.tasks.id]
}

output "log_group_name" {
  description = "awslogs group of the tasks (AIRLOCK_ECS_LOG_GROUP), for the operator to fetch logs."
  value       = aws_cloudwatch_log_group.tasks.name
}

output "log_stream_prefix" {
  description = "awslogs stream prefix: streams are <prefix>/<container>/<task id>."
  value       = var.container_name
}

output "task_role_arns" {
  description = "Per-tenant task role ARNs (tenant => ARN), passed as overrides.taskRoleArn."
  value       = var.task_role_arns
}

output "execution_role_arn" {
  description = "Execution role ARN: the Airflow role needs iam:PassRole on it and on the task roles."
  value       = aws_iam_role.execution.arn
}

output "ecr_repository_url" {
  description = "Where the deploy workflow pushes the runner image (null when the repository is brought)."
  value       = var.create_ecr_repository ? aws_ecr_repository.runner[0].repository_url : null
}

output "ecr_repository_arn" {
  description = "ARN of the runner image's repository (the deploy role's push permission)."
  value       = local.ecr_repository_arn
}

output "runner_image_parameter" {
  description = "SSM parameter holding the runner image the task definition runs (the deploy workflow writes it)."
  value       = aws_ssm_parameter.runner_image.name
}

output "task_image" {
  description = "The runner image of the current task definition (AIRLOCK_TASK_IMAGE for pods on Astro, too)."
  value       = aws_ssm_parameter.runner_image.insecure_value
}
