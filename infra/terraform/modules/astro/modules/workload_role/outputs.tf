output "role_arn" {
  description = "Role ARN for the deployment's aws_default connection (extra.role_arn)."
  value       = aws_iam_role.workload.arn
}
