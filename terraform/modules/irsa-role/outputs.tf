output "role_arn" {
  description = "The role's ARN."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "The role's name."
  value       = aws_iam_role.this.name
}

output "service_account_annotation" {
  description = "The annotation to put on the ServiceAccount."
  value       = { "eks.amazonaws.com/role-arn" = aws_iam_role.this.arn }
}
