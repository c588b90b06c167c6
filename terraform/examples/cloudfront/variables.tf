variable "region" {
  description = "The bucket's region."
  type        = string
  default     = "eu-west-1"
}

variable "issuer_url" {
  description = "The issuer on your own domain, for example https://oidc.example.com/clusters/prod."
  type        = string
}

variable "bucket_name" {
  description = "The private bucket behind the distribution."
  type        = string
}

variable "documents_dir" {
  description = "Where 'oidc-publisher render' wrote the documents."
  type        = string
}

variable "acm_certificate_arn" {
  description = "An ACM certificate in us-east-1 that covers the issuer's host."
  type        = string
}

variable "thumbprints" {
  description = "oidc-publisher thumbprint ISSUER_URL (once the DNS name points at the distribution)."
  type        = list(string)
  default     = []
}

variable "wait_for_deployment" {
  description = "Wait until the distribution is deployed everywhere before apply returns."
  type        = bool
  default     = true
}

variable "endpoint_url" {
  description = "A single endpoint for every AWS service (tests); null for AWS."
  type        = string
  default     = null
}
