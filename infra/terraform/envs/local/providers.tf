# Every service the local stack uses points at the one local endpoint. The credentials are the
# endpoint's dummies, never real ones: a mistyped endpoint cannot reach an AWS account.
provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {
    cloudtrail               = var.endpoint_url
    cloudwatch               = var.endpoint_url
    cloudwatchlogs           = var.endpoint_url
    ec2                      = var.endpoint_url
    ecr                      = var.endpoint_url
    ecs                      = var.endpoint_url
    events                   = var.endpoint_url
    iam                      = var.endpoint_url
    kms                      = var.endpoint_url
    resourcegroupstaggingapi = var.endpoint_url
    s3                       = var.endpoint_url
    sqs                      = var.endpoint_url
    ssm                      = var.endpoint_url
    sts                      = var.endpoint_url
  }

  default_tags {
    tags = local.tags
  }
}
