terraform {
  required_version = ">= 1.7"

  # Separate state from envs/prod: the SaaS providers' credentials (Astro API token, Datadog
  # keys) never take part in the AWS stack's plans, and the AWS stack validates without them.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
    astro = {
      source  = "astronomer/astro"
      version = ">= 1.0.3, < 2.0"
    }
    datadog = {
      source  = "DataDog/datadog"
      version = ">= 3.50, < 4.0"
    }
  }
}
