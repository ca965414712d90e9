# Example values: replace with the platform team's VPC, subnets and image before `apply`.
region             = "eu-west-1"
env_name           = "prod"
vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
transform_image    = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/airlock-dbt:1.0.0"
ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/airlock-dbt"

tenant_upload_principals = {
  acme   = ["arn:aws:iam::111111111111:role/acme-airlock-uploader"]
  globex = ["arn:aws:iam::222222222222:role/globex-airlock-uploader"]
}

tags = {
  "cost-center" = "data-platform"
}
