output "issuer_url" {
  description = "The issuer."
  value       = module.oidc_issuer.issuer_url
}

output "oidc_provider_arn" {
  description = "The IAM OIDC provider."
  value       = module.oidc_issuer.oidc_provider_arn
}

output "bucket_name" {
  description = "The bucket."
  value       = module.oidc_issuer.bucket_name
}

output "distribution_domain_name" {
  description = "Point the issuer's DNS name (a CNAME or an alias record) at this."
  value       = module.oidc_issuer.distribution_domain_name
}

output "distribution_id" {
  description = "For the rotation job: oidc-publisher publish --distribution-id ID (it invalidates what it rewrites)."
  value       = module.oidc_issuer.distribution_id
}
