variable "issuer_url" {
  description = "The issuer: byte for byte the 'iss' of the cluster's tokens (https, no port, query or fragment)."
  type        = string
  validation {
    condition     = can(regex("^https://[a-z0-9.-]+(/[^?#:]*)?$", var.issuer_url))
    error_message = "issuer_url must be https://HOST[/PATH] with a lower-case host, no port, query or fragment."
  }
}

variable "bucket_name" {
  description = "The S3 bucket that holds the documents (no dots for an S3-direct issuer)."
  type        = string
}

variable "documents_dir" {
  description = "The directory 'oidc-publisher render --out-dir' wrote (.well-known/openid-configuration and openid/v1/jwks)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the documents in the bucket. Default: the issuer URL's path."
  type        = string
  default     = null
}

variable "create_cloudfront" {
  description = "Keep the bucket private and serve the issuer through CloudFront with Origin Access Control (issuer_url is then a custom domain)."
  type        = bool
  default     = false
}

variable "acm_certificate_arn" {
  description = "With create_cloudfront: an ACM certificate in us-east-1 for the issuer's host."
  type        = string
  default     = null
}

variable "client_ids" {
  description = "Audiences the IAM OIDC provider accepts."
  type        = list(string)
  default     = ["sts.amazonaws.com"]
}

variable "thumbprints" {
  description = "Thumbprints of the issuer host's top certificate ('oidc-publisher thumbprint URL'); at most 5."
  type        = list(string)
  default     = []
  validation {
    condition     = length(var.thumbprints) <= 5 && alltrue([for t in var.thumbprints : can(regex("^[0-9a-f]{40}$", t))])
    error_message = "thumbprints are at most 5 lower-case 40-digit hex SHA-1 values."
  }
}

variable "force_destroy" {
  description = "Let 'terraform destroy' delete the bucket with its objects and versions."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
