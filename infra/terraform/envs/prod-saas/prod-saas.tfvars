# Example values for envs/prod-saas.
region         = "eu-west-1"
env_name       = "prod"
contact_emails = ["data-platform@example.com"]
datadog_site   = "datadoghq.eu"
prod_state = {
  bucket = "example-terraform-state"
  key    = "airlock/prod/terraform.tfstate"
  region = "eu-west-1"
}
