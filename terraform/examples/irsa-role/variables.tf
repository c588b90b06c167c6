variable "region" {
  description = "Region for the provider."
  type        = string
  default     = "eu-west-1"
}

variable "issuer_url" {
  description = "The issuer (the oidc-issuer module's issuer_url output)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The IAM OIDC provider (the oidc-issuer module's oidc_provider_arn output)."
  type        = string
}

variable "namespace" {
  description = "The service account's namespace."
  type        = string
  default     = "default"
}

variable "service_account" {
  description = "The service account."
  type        = string
  default     = "my-app"
}

variable "data_bucket" {
  description = "The bucket the pod reads."
  type        = string
  default     = "my-app-data"
}

variable "endpoint_url" {
  description = "A single endpoint for every AWS service (tests); null for AWS."
  type        = string
  default     = null
}
