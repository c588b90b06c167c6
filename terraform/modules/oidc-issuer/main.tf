# The same issuer the oidc-publisher CLI builds: documents from 'oidc-publisher render', a hardened bucket
# (no ACLs, encryption, versioning, TLS only, read on exactly the two documents), optional CloudFront with
# Origin Access Control, and the IAM OIDC provider. The bucket policy is the CLI's, statement for statement
# (oidc_publisher/core/policies.py); a test compares them.

data "aws_partition" "current" {}

locals {
  issuer_host   = regex("^https://([^/]+)", var.issuer_url)[0]
  issuer_path   = trim(trimprefix(var.issuer_url, "https://${local.issuer_host}"), "/")
  prefix        = var.prefix != null ? trim(var.prefix, "/") : local.issuer_path
  key_prefix    = local.prefix == "" ? "" : "${local.prefix}/"
  jwks_key      = "${local.key_prefix}openid/v1/jwks"
  discovery_key = "${local.key_prefix}.well-known/openid-configuration"
  partition     = data.aws_partition.current.partition
  bucket_arn    = "arn:${local.partition}:s3:::${var.bucket_name}"
  tags          = merge(var.tags, { "managed-by" = "terraform-oidc-issuer" })

  read_resources = sort(["${local.bucket_arn}/${local.discovery_key}", "${local.bucket_arn}/${local.jwks_key}"])
  # The two read statements have different shapes; JSON keeps the conditional's types equal.
  read_statement_json = var.create_cloudfront ? jsonencode({
    Sid       = "OidcPublisherCloudFrontRead"
    Effect    = "Allow"
    Principal = { Service = "cloudfront.amazonaws.com" }
    Action    = "s3:GetObject"
    Resource  = local.read_resources
    Condition = { StringEquals = { "AWS:SourceArn" = one(aws_cloudfront_distribution.this[*].arn) } }
    }) : jsonencode({
    Sid       = "OidcPublisherPublicRead"
    Effect    = "Allow"
    Principal = "*"
    Action    = "s3:GetObject"
    Resource  = local.read_resources
  })
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logging of two public documents is left to the caller (it needs a log bucket of its own).
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: the documents are rebuilt from the cluster at any time.
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose, as the CLI does: S3 refuses anonymous reads of SSE-KMS objects (S3-direct mode), and the objects are public keys.
  #checkov:skip=CKV2_AWS_62:No event notifications are needed for two documents.
  #checkov:skip=CKV2_AWS_61:No lifecycle rule: old versions are the rollback history, a few KiB each.
  #checkov:skip=CKV2_AWS_6:The public access block below is there; in S3-direct mode it must allow the read policy on the two documents.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  #checkov:skip=CKV_AWS_54:S3-direct mode needs the public read policy on exactly the two documents.
  #checkov:skip=CKV_AWS_56:S3-direct mode needs the public read policy on exactly the two documents.
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = var.create_cloudfront
  restrict_public_buckets = var.create_cloudfront
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      jsondecode(local.read_statement_json),
      {
        Sid       = "OidcPublisherDenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# JWKS first, then the discovery document: it never points at a JWKS that lacks a signing key.
resource "aws_s3_object" "jwks" {
  bucket        = aws_s3_bucket.this.id
  key           = local.jwks_key
  source        = "${var.documents_dir}/openid/v1/jwks"
  etag          = filemd5("${var.documents_dir}/openid/v1/jwks")
  content_type  = "application/json"
  cache_control = "public, max-age=300"
  tags          = local.tags
  depends_on    = [aws_s3_bucket_ownership_controls.this, aws_s3_bucket_server_side_encryption_configuration.this]
}

resource "aws_s3_object" "discovery" {
  bucket        = aws_s3_bucket.this.id
  key           = local.discovery_key
  source        = "${var.documents_dir}/.well-known/openid-configuration"
  etag          = filemd5("${var.documents_dir}/.well-known/openid-configuration")
  content_type  = "application/json"
  cache_control = "public, max-age=300"
  tags          = local.tags
  depends_on    = [aws_s3_object.jwks]
}

# The CLI's names (oidc_publisher/aws/cloudfront.py), so 'oidc-publisher publish' finds what Terraform made.
resource "aws_cloudfront_origin_access_control" "this" {
  count                             = var.create_cloudfront ? 1 : 0
  name                              = substr("oidc-publisher-${var.bucket_name}", 0, 64)
  description                       = "oidc-publisher issuer for ${var.bucket_name}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Short TTLs, nothing in the cache key: a rotated JWKS reaches STS within minutes even without an
# invalidation, and the objects' own Cache-Control (max-age=300) decides within these bounds.
resource "aws_cloudfront_cache_policy" "this" {
  count       = var.create_cloudfront ? 1 : 0
  name        = substr("oidc-publisher-${replace(var.bucket_name, ".", "-")}", 0, 128)
  comment     = "oidc-publisher issuer for ${var.bucket_name}: short TTLs"
  min_ttl     = 0
  default_ttl = 300
  max_ttl     = 3600
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_68:A WAF in front of two public documents adds cost and nothing STS needs.
  #checkov:skip=CKV_AWS_86:Access logging is left to the caller.
  #checkov:skip=CKV_AWS_310:Origin failover needs a second bucket; the documents are rebuilt from the cluster at any time.
  #checkov:skip=CKV_AWS_374:No geo restriction: STS fetches from AWS's own regions.
  #checkov:skip=CKV2_AWS_32:No response headers policy is needed for JSON documents read by STS.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68).
  #checkov:skip=CKV_AWS_305:No default root object: the issuer serves two documents at fixed paths, and '/' is a 403 from the private bucket.
  count           = var.create_cloudfront ? 1 : 0
  enabled         = true
  comment         = "oidc-publisher issuer for ${var.bucket_name}"
  aliases         = [local.issuer_host]
  price_class     = "PriceClass_100"
  http_version    = "http2"
  is_ipv6_enabled = true

  wait_for_deployment = var.wait_for_deployment

  origin {
    origin_id                = "oidc-publisher-s3"
    domain_name              = aws_s3_bucket.this.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this[0].id
  }

  default_cache_behavior {
    target_origin_id       = "oidc-publisher-s3"
    viewer_protocol_policy = "https-only"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    cache_policy_id        = aws_cloudfront_cache_policy.this[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.acm_certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = local.tags
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = var.issuer_url
  client_id_list  = var.client_ids
  thumbprint_list = length(var.thumbprints) > 0 ? var.thumbprints : null
  tags            = local.tags
  depends_on      = [aws_s3_object.discovery]
}
