locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  connections = "${var.secret_prefix}/connections"
  # Every secret of the kit, and nothing else: what the MWAA execution role may read.
  secret_arn_pattern = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secret_prefix}/*"

  reader_role_name = {
    snowflake = "${var.name_prefix}-snowflake-raw-reader"
    redshift  = "${var.name_prefix}-redshift-raw-reader"
  }
  reader_role_arn = {
    for k, name in local.reader_role_name : k => "arn:${local.partition}:iam::${local.account_id}:role/${name}"
  }
  create_snowflake_reader = var.warehouse == "snowflake" && var.snowflake_iam_user_arn != null
  create_redshift_reader  = var.warehouse == "redshift"
  raw_objects             = var.raw_prefix == "" ? "${var.raw_bucket_arn}/*" : "${var.raw_bucket_arn}/${trim(var.raw_prefix, "/")}/*"
}
