variable "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider (the oidc-issuer module's output)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[^/]", var.oidc_provider_arn))
    error_message = "oidc_provider_arn is not an IAM OIDC provider ARN (arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH)."
  }
  validation {
    # The trust policy's condition keys are HOST/PATH of the issuer: they must name this provider.
    condition     = endswith(var.oidc_provider_arn, ":oidc-provider/${trim(trimprefix(var.issuer_url, "https://"), "/")}")
    error_message = "oidc_provider_arn is not the provider of issuer_url: give the ARN the oidc-issuer module output for this issuer."
  }
}

variable "issuer_url" {
  description = "The issuer URL (for the HOST/PATH of the trust-policy condition keys)."
  type        = string
  validation {
    condition     = startswith(var.issuer_url, "https://") && !can(regex("[?#[:space:]]|^https://[^/]*:", var.issuer_url))
    error_message = "issuer_url must be https://HOST[/PATH], without a port, query or fragment."
  }
}

variable "namespace" {
  description = "The service account's namespace."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace is not a Kubernetes namespace name (a DNS label: lower-case letters, digits, '-', at most 63)."
  }
}

variable "service_account" {
  description = "The service account's name."
  type        = string
  validation {
    condition     = length(var.service_account) <= 253 && can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", var.service_account))
    error_message = "service_account is not a Kubernetes service account name (a DNS subdomain: lower-case letters, digits, '-', '.')."
  }
}

variable "audience" {
  description = "The token audience (the pod identity webhook's --token-audience)."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "role_name" {
  description = "Role name. Default: the CLI's, irsa-CLUSTER-NAMESPACE-SERVICEACCOUNT-HASH (CLUSTER the issuer host's first label, HASH of the provider path, namespace and service account, so two issuers never share a name). Roles made by module versions before the hash: set this to their current name to keep them."
  type        = string
  default     = null
  validation {
    condition     = var.role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", coalesce(var.role_name, "-")))
    error_message = "role_name must be 1-64 characters of letters, digits and +=,.@_- (IAM's rule)."
  }
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
  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be 3600 to 43200 seconds (IAM's limits)."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
