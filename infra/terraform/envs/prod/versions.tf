terraform {
  required_version = ">= 1.7"

  # Partial config: bucket, key, region and dynamodb_table come from `-backend-config=backend.hcl`
  # (see backend.hcl.example), so no account detail is committed.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}
