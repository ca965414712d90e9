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
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/airlock-test-runner"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/airlock-test-runner"
    }
  }
}

variables {
  name_prefix = "airlock-test"
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
  assert {
    condition     = aws_ecr_repository.runner[0].image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.runner[0].image_scanning_configuration[0].scan_on_push
    error_message = "The runner image's repository: immutable tags, scanned on push."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/airlock-test-runner:bootstrap"
    error_message = "Without an image, the task definition runs this module's repository (the deploy workflow moves the tag)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].image == aws_ssm_parameter.runner_image.insecure_value
    error_message = "The task definition follows the runner-image parameter the deploy workflow writes."
  }
}

run "warehouse_credentials_come_from_secrets_manager" {
  command   = apply
  state_key = "pinned_image" # a fresh module: the first run's parameter would keep its own image

  variables {
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/airlock-test-runner:4f2a9c1"
    container_secrets = {
      AIRLOCK_PG_PASSWORD = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock/test/warehouse-AbCdEf:password::"
      AIRLOCK_PG_USER     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock/test/warehouse-AbCdEf:username::"
    }
    container_environment = { AIRLOCK_PG_HOST = "warehouse.internal", AIRLOCK_DBT_TARGET = "postgres" }
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].secrets == [
      { name = "AIRLOCK_PG_PASSWORD", valueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock/test/warehouse-AbCdEf:password::" },
      { name = "AIRLOCK_PG_USER", valueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock/test/warehouse-AbCdEf:username::" },
    ]
    error_message = "Credentials reach the container as task definition secrets."
  }
  assert {
    condition     = alltrue([for e in jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].environment : !strcontains(e.name, "PASSWORD")])
    error_message = "No credential in the plain environment."
  }
  assert {
    condition = contains(
      flatten([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "ReadContainerSecrets"]),
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:airlock/test/warehouse-AbCdEf"
    )
    error_message = "The execution role reads exactly the secret (its ARN without the JSON key)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.dbt.container_definitions)[0].image == var.image
    error_message = "A pinned image is the first revision's image."
  }
}

run "refuses_credentials_in_the_plain_environment" {
  command = plan

  variables {
    container_environment = { AIRLOCK_PG_PASSWORD = "hunter2" }
  }

  expect_failures = [var.container_environment]
}

run "rejects_latest_tag" {
  command = plan

  variables {
    image = "airlock/dbt:latest"
  }

  expect_failures = [var.image]
}
