terraform {
  required_version = ">= 1.7"

  # Local state; airlock.infra points `path` at a per-endpoint file (-backend-config=path=...).
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}
