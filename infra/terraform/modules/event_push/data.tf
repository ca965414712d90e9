data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

# The scoped API token, read at apply time from the secret the platform team keeps it in: it never
# appears in a .tf file or a variable (it does land in the state, as every connection secret does:
# keep the state encrypted).
data "aws_secretsmanager_secret_version" "api_token" {
  secret_id = var.api_token_secret_arn
}
