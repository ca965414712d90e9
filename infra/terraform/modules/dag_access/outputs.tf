output "policy_json" {
  description = "IAM policy document (JSON) granting the DAGs' data-plane access."
  value       = jsonencode({ Version = "2012-10-17", Statement = local.statements })
}
