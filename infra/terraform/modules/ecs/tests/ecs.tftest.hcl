mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  # The provider validates ARN-shaped arguments even under mocks.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/airlock-test-transforms-execution" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/logs" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/airlock/airlock-test/ecs/dbt" }
  }
}

variables {
  name_prefix = "airlock-test"
  image       = "airlock/dbt:1.0.0"
  vpc_id      = "vpc-0123"
  subnet_ids  = ["subnet-a", "subnet-b"]
  task_role_arns = {
    acme   = "arn:aws:iam::123456789012:role/airlock-test-acme-processing"
    globex = "arn:aws:iam::123456789012:role/airlock-test-globex-processing"
  }
}

run "outputs_are_what_the_dags_need" {
  command = apply

  assert {
    condition     = output.task_definition_family == "airlock-test-dbt" && output.container_name == "dbt"
    error_message = "Family and container name are stable names the DAGs use."
  }
  assert {
    condition     = output.task_role_arns == var.task_role_arns
    error_message = "One task role per tenant, passed through unchanged."
  }
  assert {
    condition     = aws_cloudwatch_log_group.tasks.retention_in_days >= 365
    error_message = "Task logs are kept at least 365 days."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].logConfiguration.options["awslogs-group"] == output.log_group_name
    error_message = "The container logs to the output log group."
  }
  assert {
    condition     = aws_ecs_task_definition.dbt.task_role_arn == null || aws_ecs_task_definition.dbt.task_role_arn == ""
    error_message = "No default task role: each run names its tenant's."
  }
}

run "rejects_latest_tag" {
  command = plan

  variables {
    image = "airlock/dbt:latest"
  }

  expect_failures = [var.image]
}
