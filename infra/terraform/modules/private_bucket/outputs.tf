output "id" {
  description = "Bucket name (the id of an S3 bucket)."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "expiration_days" {
  description = "Days current objects are kept (null: kept); for retention assertions in callers' tests."
  value       = var.expiration_days
}
