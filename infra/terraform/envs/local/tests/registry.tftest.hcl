# The env is driven by the registry: one tenant instance (key, roles; queue and rule if dedicated)
# per dags/registry/tenants/*.yaml, with no .tf edit. Offline: mock provider.
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
  mock_data "aws_resourcegroupstaggingapi_resources" {
    defaults = { resource_tag_mapping_list = [] }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock-bucket" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock", id = "https://sqs.us-east-1.amazonaws.com/123456789012/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_vpc" {
    defaults = { id = "vpc-mock" }
  }
  mock_resource "aws_subnet" {
    defaults = { id = "subnet-mock" }
  }
}

run "one_instance_per_registry_file" {
  command = apply

  assert {
    condition     = toset(keys(module.tenant)) == toset([for f in fileset("${path.module}/../../../../dags/registry/tenants", "*.yaml") : trimsuffix(f, ".yaml") if !startswith(f, "_")])
    error_message = "Every dags/registry/tenants/<id>.yaml gets exactly one tenant instance."
  }
  assert {
    condition     = toset(keys(output.event_routing.dedicated)) == toset(output.airlock.dedicated_tenants) && length(output.airlock.dedicated_tenants) > 0
    error_message = "Exactly the dedicated tenants of the registry get a queue of their own."
  }
  assert {
    condition = toset(jsondecode(output.event_routing.shared_pattern).detail.object.key[0]["anything-but"].prefix) == toset(
      [for id in output.airlock.dedicated_tenants : "${id}/"]
    )
    error_message = "The shared queue's rule leaves out exactly the dedicated tenants' prefixes."
  }
  assert {
    condition     = output.airlock.shared_queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/airlock-local-shared-landing"
    error_message = "The shared queue URL is AWS-style (the connection's endpoint_url reaches a local endpoint)."
  }
  assert {
    condition     = output.airlock.landing_url == "s3://airlock-local-landing" && output.airlock.raw_url == "s3://airlock-local-raw" && output.airlock.quarantine_url == "s3://airlock-local-quarantine"
    error_message = "Storage roots follow docs/contracts.md."
  }
  assert {
    condition     = output.airlock.queue_url_template == "https://sqs.us-east-1.amazonaws.com/123456789012/airlock-local-{tenant}-landing"
    error_message = "The queue URL template is AWS-style with {tenant}."
  }
}

run "a_new_registry_file_is_a_new_tenant" {
  command = apply

  variables {
    tenants_dir = "./tests/fixtures/tenants"
  }

  assert {
    condition     = toset(keys(module.registry.tenants)) == toset(["acme", "hooli"]) && toset(keys(module.tenant)) == toset(["acme", "hooli", "initech"])
    error_message = "Tenants come from the folder given (and offboarded/ beside it: initech keeps its key), nothing else."
  }
}

# The two-step guard: a tenant whose key exists must keep a registry file (tenants/ or offboarded/).
run "removing_a_tenant_file_without_offboarding_fails_the_plan" {
  command = plan

  variables {
    tenants_dir = "./tests/fixtures/tenants"
  }

  override_data {
    target = module.tenant_guard.data.aws_resourcegroupstaggingapi_resources.tenant_keys
    values = {
      resource_tag_mapping_list = [
        { resource_arn = "arn:aws:kms:us-east-1:123456789012:key/a", tags = { "airlock:env" = "local", "airlock:tenant" = "acme" }, compliance_details = [] },
        { resource_arn = "arn:aws:kms:us-east-1:123456789012:key/g", tags = { "airlock:env" = "local", "airlock:tenant" = "globex" }, compliance_details = [] },
      ]
    }
  }

  expect_failures = [output.tenant_guard]
}

run "an_offboarded_tenant_keeps_its_key_and_passes_the_guard" {
  command = plan

  variables {
    tenants_dir = "./tests/fixtures/tenants"
  }

  override_data {
    target = module.tenant_guard.data.aws_resourcegroupstaggingapi_resources.tenant_keys
    values = {
      resource_tag_mapping_list = [
        { resource_arn = "arn:aws:kms:us-east-1:123456789012:key/a", tags = { "airlock:env" = "local", "airlock:tenant" = "acme" }, compliance_details = [] },
        { resource_arn = "arn:aws:kms:us-east-1:123456789012:key/i", tags = { "airlock:env" = "local", "airlock:tenant" = "initech" }, compliance_details = [] },
      ]
    }
  }

  assert {
    condition     = length(module.tenant_guard.removed) == 0
    error_message = "initech's file is in offboarded/: its key is accounted for."
  }
  assert {
    condition     = contains(module.registry.known_tenant_ids, "initech") && !contains(keys(module.registry.tenants), "initech")
    error_message = "An offboarded tenant is known, and not active."
  }
  assert {
    condition     = contains(keys(module.tenant), "initech")
    error_message = "An offboarded tenant keeps its tenant instance (its KMS key) until it is erased."
  }
  assert {
    condition     = length(output.airlock.dedicated_tenants) == 0 && length(output.event_routing.dedicated) == 0
    error_message = "A registry of standard tenants needs no queue but the shared one."
  }
}
