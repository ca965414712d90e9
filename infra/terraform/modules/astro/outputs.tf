output "workspace_id" {
  description = "Astro workspace id."
  value       = astro_workspace.this.id
}

output "deployment_id" {
  description = "Astro deployment id (for `astro deploy`)."
  value       = astro_deployment.this.id
}

output "webserver_url" {
  description = "Airflow UI of the deployment."
  value       = astro_deployment.this.webserver_url
}

output "workload_role_arn" {
  description = "Role the deployment's workload identity assumes."
  value       = module.workload_role.role_arn
}
