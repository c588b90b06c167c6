variable "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider (the oidc-issuer module's output)."
  type        = string
}

variable "issuer_url" {
  description = "The issuer URL (for the HOST/PATH of the trust-policy condition keys)."
  type        = string
}

variable "namespace" {
  description = "The service account's namespace."
  type        = string
}

variable "service_account" {
  description = "The service account's name."
  type        = string
}

variable "audience" {
  description = "The token audience (the pod identity webhook's --token-audience)."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "role_name" {
  description = "Role name. Default: irsa-NAMESPACE-SERVICEACCOUNT (at most 64 characters)."
  type        = string
  default     = null
}

variable "policy_arns" {
  description = "Managed policies to attach."
  type        = list(string)
  default     = []
}

variable "permissions_boundary" {
  description = "A permissions boundary policy ARN."
  type        = string
  default     = null
}

variable "max_session_duration" {
  description = "Seconds, 3600 to 43200."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
