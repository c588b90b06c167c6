output "role_arn" {
  description = "The role."
  value       = module.irsa_role.role_arn
}

output "role_name" {
  description = "The role's name."
  value       = module.irsa_role.role_name
}

output "service_account_annotation" {
  description = "Put this on the ServiceAccount."
  value       = module.irsa_role.service_account_annotation
}
