# endpoint_url points every service at one endpoint (a local emulator in the tests); leave it null for AWS.
provider "aws" {
  region                      = var.region
  skip_credentials_validation = var.endpoint_url != null
  skip_requesting_account_id  = var.endpoint_url != null
  skip_metadata_api_check     = var.endpoint_url != null
  s3_use_path_style           = var.endpoint_url != null

  endpoints {
    s3         = var.endpoint_url
    iam        = var.endpoint_url
    sts        = var.endpoint_url
    cloudfront = var.endpoint_url
  }
}

# An S3-direct issuer: https://BUCKET.s3.REGION.amazonaws.com. First render the documents:
#   oidc-publisher render --issuer-url https://BUCKET.s3.REGION.amazonaws.com --public-key sa.pub --out-dir ./documents
module "oidc_issuer" {
  source = "../../modules/oidc-issuer"

  issuer_url    = "https://${var.bucket_name}.s3.${var.region}.amazonaws.com"
  bucket_name   = var.bucket_name
  documents_dir = var.documents_dir
  thumbprints   = var.thumbprints
  force_destroy = true
  tags          = { cluster = "example" }
}
