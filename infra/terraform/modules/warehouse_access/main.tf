# Warehouse access for the kit: empty secret shells for the Airflow connections (values are set by the
# platform team, never by Terraform or the repo), the key that encrypts them, and the IAM role the warehouse
# assumes to read the raw bucket (Snowflake's storage integration, Redshift's COPY … IAM_ROLE).

resource "aws_kms_key" "secrets" {
  description         = "${var.name_prefix}: the kit's Secrets Manager secrets (warehouse connections)"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersViaIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name_prefix}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

# The shells: Airflow's SecretsManagerBackend reads <prefix>/connections/<conn_id>. Terraform never holds a
# value (no aws_secretsmanager_secret_version): `aws secretsmanager put-secret-value` sets it (docs/warehouses.md).
resource "aws_secretsmanager_secret" "warehouse" {
  #checkov:skip=CKV2_AWS_57:A warehouse login is rotated on the warehouse's side (Snowflake key pair, Redshift/Postgres password); no Lambda rotator is shipped for three warehouses.
  name        = "${local.connections}/airlock_warehouse"
  description = "Airflow connection airlock_warehouse (${var.warehouse}): the loader's and dbt's warehouse login. Value set outside Terraform."
  kms_key_id  = aws_kms_key.secrets.arn
  tags        = merge(var.tags, { "airlock:secret" = "warehouse-connection" })
}

resource "aws_secretsmanager_secret" "tenant" {
  #checkov:skip=CKV2_AWS_57:A warehouse login is rotated on the warehouse's side (Snowflake key pair, Redshift/Postgres password); no Lambda rotator is shipped for three warehouses.
  for_each    = var.tenant_ids
  name        = "${local.connections}/airlock_warehouse_${each.key}"
  description = "Airflow connection airlock_warehouse_${each.key}: a login that acts as tenant ${each.key} only. Value set outside Terraform."
  kms_key_id  = aws_kms_key.secrets.arn
  tags        = merge(var.tags, { "airlock:secret" = "warehouse-connection", "airlock:tenant" = each.key })
}

# What may read the kit's secrets: exactly its prefix, decrypting only through Secrets Manager.
data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid       = "ReadKitSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [local.secret_arn_pattern]
  }
  statement {
    sid       = "DecryptKitSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

# -- the warehouse's reader of the raw bucket ------------------------------------------------------------
data "aws_iam_policy_document" "read_raw" {
  statement {
    sid       = "ReadSnapshots"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [local.raw_objects]
  }
  statement {
    sid       = "ListSnapshots"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.raw_bucket_arn]
  }
  statement {
    sid       = "DecryptSnapshots"
    actions   = ["kms:Decrypt"]
    resources = [var.storage_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "snowflake_reader" {
  count = local.create_snowflake_reader ? 1 : 0
  name  = local.reader_role_name.snowflake
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.snowflake_iam_user_arn }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = var.snowflake_external_id } }
    }]
  })
  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.snowflake_external_id != null
      error_message = "snowflake_external_id is required with snowflake_iam_user_arn (desc integration AIRLOCK_RAW)."
    }
  }
}

resource "aws_iam_role_policy" "snowflake_reader" {
  count  = local.create_snowflake_reader ? 1 : 0
  name   = "read-raw-snapshots"
  role   = aws_iam_role.snowflake_reader[0].id
  policy = data.aws_iam_policy_document.read_raw.json
}

resource "aws_iam_role" "redshift_reader" {
  count = local.create_redshift_reader ? 1 : 0
  name  = local.reader_role_name.redshift
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "redshift.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "redshift_reader" {
  count  = local.create_redshift_reader ? 1 : 0
  name   = "read-raw-snapshots"
  role   = aws_iam_role.redshift_reader[0].id
  policy = data.aws_iam_policy_document.read_raw.json
}
