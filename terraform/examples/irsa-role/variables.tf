variable "region" {
  description = "Region for the provider."
  type        = string
  default     = "eu-west-1"
}

variable "issuer_url" {
  description = "The issuer."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The IAM OIDC provider (oidc-issuer module output)."
  type        = string
}

variable "endpoint_url" {
  description = "A single endpoint for every AWS service (tests); null for AWS."
  type        = string
  default     = null
}
