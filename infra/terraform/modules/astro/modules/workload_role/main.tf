module "dag_access" {
  source       = "../../../dag_access"
  name_prefix  = var.name_prefix
  partition    = data.aws_partition.current.partition
  region       = data.aws_region.current.name
  account_id   = data.aws_caller_identity.current.account_id
  bucket_arns  = var.bucket_arns
  kms_key_arns = var.kms_key_arns
}

resource "aws_iam_role" "workload" {
  name                 = "${var.name_prefix}-astro-workload"
  description          = "Assumed by the Astro deployment's workload identity: the DAGs' AWS identity on Astro"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.workload_identity_arn }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "dags" {
  name   = "airlock-dags"
  role   = aws_iam_role.workload.id
  policy = module.dag_access.policy_json
}
