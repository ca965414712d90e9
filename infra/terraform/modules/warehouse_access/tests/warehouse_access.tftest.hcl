# Offline: mock provider, fixed identity. What each warehouse gets, and that nothing reads beyond the prefix.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/secrets", key_id = "secrets" }
  }
}

variables {
  name_prefix         = "airlock-test"
  secret_prefix       = "airlock/test"
  raw_bucket_arn      = "arn:aws:s3:::airlock-test-raw"
  storage_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/storage"
  tenant_ids          = ["acme", "globex"]
}

run "postgres_gets_empty_connection_shells_only" {
  command = apply
  variables {
    warehouse = "postgres"
  }

  assert {
    condition = output.connection_secret_names == {
      airlock_warehouse        = "airlock/test/connections/airlock_warehouse"
      airlock_warehouse_acme   = "airlock/test/connections/airlock_warehouse_acme"
      airlock_warehouse_globex = "airlock/test/connections/airlock_warehouse_globex"
    }
    error_message = "One connection secret per warehouse and per tenant, under the kit's prefix (docs/contracts.md)."
  }
  assert {
    condition     = aws_secretsmanager_secret.warehouse.kms_key_id == aws_kms_key.secrets.arn && aws_kms_key.secrets.enable_key_rotation
    error_message = "Secrets are encrypted with the kit's rotating key."
  }
  assert {
    condition     = length(aws_iam_role.snowflake_reader) == 0 && length(aws_iam_role.redshift_reader) == 0 && output.reader_role_arn == null
    error_message = "Postgres reads nothing from S3: no reader role."
  }
  assert {
    condition     = jsondecode(output.airflow_secrets_backend_options["secrets.backend_kwargs"]).connections_prefix == "airlock/test/connections"
    error_message = "The secrets backend reads the kit's connections prefix."
  }
}

run "redshift_reader_is_assumed_by_redshift_of_this_account_only" {
  command = apply
  variables {
    warehouse = "redshift"
  }

  assert {
    condition     = jsondecode(aws_iam_role.redshift_reader[0].assume_role_policy).Statement[0].Principal.Service == "redshift.amazonaws.com"
    error_message = "Only Redshift assumes the reader role."
  }
  assert {
    condition     = jsondecode(aws_iam_role.redshift_reader[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "Confused deputy: only Redshift acting for this account."
  }
  assert {
    condition     = output.kit_settings.redshift_iam_role == "arn:aws:iam::123456789012:role/airlock-test-redshift-raw-reader"
    error_message = "AIRLOCK_REDSHIFT_IAM_ROLE is the reader role."
  }
}

run "snowflake_reader_waits_for_the_integration_then_trusts_only_it" {
  command = apply
  variables {
    warehouse = "snowflake"
  }

  assert {
    condition     = length(aws_iam_role.snowflake_reader) == 0 && output.reader_role_arn == "arn:aws:iam::123456789012:role/airlock-test-snowflake-raw-reader"
    error_message = "Before the integration exists, the role ARN is known (for setup.sql) but no role trusts anyone."
  }
}

run "snowflake_reader_with_the_integrations_identity" {
  command = apply
  variables {
    warehouse              = "snowflake"
    snowflake_iam_user_arn = "arn:aws:iam::999999999999:user/abc-snowflake"
    snowflake_external_id  = "ACME_SFCRole=2_abc"
  }

  assert {
    condition     = jsondecode(aws_iam_role.snowflake_reader[0].assume_role_policy).Statement[0].Condition.StringEquals["sts:ExternalId"] == "ACME_SFCRole=2_abc"
    error_message = "The role trusts the integration's IAM user with its external id only."
  }
}

run "unknown_warehouse_is_refused" {
  command = plan
  variables {
    warehouse = "oracle"
  }
  expect_failures = [var.warehouse]
}
