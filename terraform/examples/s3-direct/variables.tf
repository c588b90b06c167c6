variable "region" {
  description = "The bucket's region."
  type        = string
  default     = "eu-west-1"
}

variable "bucket_name" {
  description = "The issuer bucket (no dots)."
  type        = string
}

variable "documents_dir" {
  description = "Where 'oidc-publisher render' wrote the documents."
  type        = string
}

variable "thumbprints" {
  description = "oidc-publisher thumbprint https://BUCKET.s3.REGION.amazonaws.com"
  type        = list(string)
  default     = []
}

variable "endpoint_url" {
  description = "A single endpoint for every AWS service (tests); null for AWS."
  type        = string
  default     = null
}
