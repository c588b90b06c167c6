output "issuer_url" {
  description = "The issuer URL."
  value       = var.issuer_url
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider (what role trust policies federate to)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "bucket_name" {
  description = "The bucket that holds the documents."
  value       = aws_s3_bucket.this.id
}

output "distribution_domain_name" {
  description = "With create_cloudfront: the distribution's domain (point the issuer's DNS name at it)."
  value       = var.create_cloudfront ? aws_cloudfront_distribution.this[0].domain_name : null
}

output "distribution_id" {
  description = "With create_cloudfront: the distribution's ID (the rotation job's 'publish --distribution-id', for invalidations)."
  value       = var.create_cloudfront ? aws_cloudfront_distribution.this[0].id : null
}

output "distribution_arn" {
  description = "With create_cloudfront: the distribution's ARN (the one the bucket policy lets read the documents)."
  value       = var.create_cloudfront ? aws_cloudfront_distribution.this[0].arn : null
}

output "document_keys" {
  description = "The S3 keys of the JWKS and the discovery document, in write order."
  value       = [aws_s3_object.jwks.key, aws_s3_object.discovery.key]
}
