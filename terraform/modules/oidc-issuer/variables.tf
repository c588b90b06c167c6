# The checks mirror oidc_publisher/core/issuer.py (parse_issuer, validate_bucket_name, object_keys_for), so the
# module refuses at plan time what the CLI refuses, with the same advice.

variable "issuer_url" {
  description = "The issuer: byte for byte the 'iss' of the cluster's tokens (https, no port, query or fragment)."
  type        = string
  validation {
    condition     = startswith(var.issuer_url, "https://")
    error_message = "issuer_url is not https: IAM and STS only accept https:// issuers; serve the documents over HTTPS (S3, CloudFront)."
  }
  validation {
    condition     = !can(regex("[?#[:space:]]", var.issuer_url))
    error_message = "issuer_url has a query string, a fragment or whitespace: remove it, the issuer must match 'iss' exactly."
  }
  validation {
    condition     = !can(regex("^https://[^/]*:", var.issuer_url))
    error_message = "issuer_url has a port: IAM refuses issuer URLs with a port; serve it on 443 and drop ':PORT'."
  }
  validation {
    # Only once the scheme and port are right, so each mistake gets one message.
    condition     = !startswith(var.issuer_url, "https://") || can(regex("^https://[^/]*:", var.issuer_url)) || can(regex("^https://[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(/|$)", var.issuer_url))
    error_message = "issuer_url has no valid lower-case host name: use https://HOST[/PATH] with a DNS name (no credentials, no upper case)."
  }
  validation {
    condition     = !can(regex("^https://[^/]*.*//|^https://[^/]*(/[^/]*)*/\\.\\.?(/|$)", var.issuer_url))
    error_message = "issuer_url has an empty or relative path segment: normalise the path."
  }
}

variable "bucket_name" {
  description = "The S3 bucket that holds the documents (no dots for an S3-direct issuer)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..") && !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.bucket_name))
    error_message = "bucket_name is not a valid S3 bucket name: use 3-63 lower-case letters, digits, '-' (and '.' only behind CloudFront)."
  }
  validation {
    condition     = var.create_cloudfront || !strcontains(var.bucket_name, ".")
    error_message = "bucket_name contains dots, which S3's wildcard certificate does not cover: choose a name without dots, or set create_cloudfront."
  }
  validation {
    # An S3-direct issuer names its bucket in the host: it must be this one.
    condition     = try(regex("^https://([a-z0-9-]+)\\.s3[.-][a-z0-9-]+\\.amazonaws\\.com(\\.cn)?(/|$)", var.issuer_url)[0] == var.bucket_name, true)
    error_message = "issuer_url is served by another bucket than bucket_name: use the bucket named in the issuer URL, or an issuer URL for this bucket."
  }
}

variable "documents_dir" {
  description = "The directory 'oidc-publisher render --out-dir' wrote (.well-known/openid-configuration and openid/v1/jwks)."
  type        = string
  validation {
    condition     = fileexists("${var.documents_dir}/openid/v1/jwks") && fileexists("${var.documents_dir}/.well-known/openid-configuration")
    error_message = "documents_dir lacks openid/v1/jwks or .well-known/openid-configuration: run 'oidc-publisher render --issuer-url URL --public-key sa.pub --out-dir DIR' first."
  }
}

variable "prefix" {
  description = "Key prefix of the documents in the bucket. Default: the issuer URL's path (for an S3-direct issuer it must be)."
  type        = string
  default     = null
  validation {
    condition     = var.prefix == null || !can(regex("//|(^|/)\\.\\.?(/|$)|[[:space:]?#\\\\]", trim(coalesce(var.prefix, "/"), "/")))
    error_message = "prefix has an empty or relative segment, or characters that do not belong in a URL path: use a plain path such as 'clusters/prod'."
  }
  validation {
    condition = var.prefix == null || !can(regex("^https://[a-z0-9-]+\\.s3[.-][a-z0-9-]+\\.amazonaws\\.com(\\.cn)?(/|$)", var.issuer_url)) || (
      trim(coalesce(var.prefix, "/"), "/") == trim(replace(var.issuer_url, "/^https://[^/]+/", ""), "/")
    )
    error_message = "prefix disagrees with the issuer's path: for an S3-direct issuer the path is the prefix; drop prefix."
  }
}

variable "create_cloudfront" {
  description = "Keep the bucket private and serve the issuer through CloudFront with Origin Access Control (issuer_url is then a custom domain)."
  type        = bool
  default     = false
  validation {
    condition     = !var.create_cloudfront || !can(regex("^https://[^/]+\\.amazonaws\\.com(\\.cn)?(/|$)", var.issuer_url))
    error_message = "create_cloudfront serves the issuer on a custom domain: issuer_url must be that domain, not an amazonaws.com host."
  }
}

variable "acm_certificate_arn" {
  description = "With create_cloudfront: an ACM certificate in us-east-1 for the issuer's host."
  type        = string
  default     = null
  validation {
    condition     = !var.create_cloudfront || var.acm_certificate_arn != null
    error_message = "create_cloudfront serves the custom domain in issuer_url: give acm_certificate_arn (a certificate in us-east-1)."
  }
  validation {
    condition     = var.acm_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$", coalesce(var.acm_certificate_arn, "-")))
    error_message = "acm_certificate_arn is not an ACM certificate ARN in us-east-1 (the only region CloudFront takes certificates from)."
  }
}

variable "wait_for_deployment" {
  description = "With create_cloudfront: wait until the distribution is deployed to every edge location (several minutes)."
  type        = bool
  default     = true
}

variable "client_ids" {
  description = "Audiences the IAM OIDC provider accepts."
  type        = list(string)
  default     = ["sts.amazonaws.com"]
  validation {
    condition     = length(var.client_ids) >= 1 && length(var.client_ids) <= 100 && alltrue([for c in var.client_ids : length(c) >= 1 && length(c) <= 255])
    error_message = "client_ids are 1 to 100 audiences of 1-255 characters each (IAM's limits)."
  }
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
