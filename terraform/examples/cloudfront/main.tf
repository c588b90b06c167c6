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

# A private bucket behind CloudFront (Origin Access Control), the issuer on a custom domain with a path.
# First render the documents for that issuer:
#   oidc-publisher render --issuer-url https://oidc.example.com/clusters/prod --public-key sa.pub --out-dir ./documents
module "oidc_issuer" {
  source = "../../modules/oidc-issuer"

  issuer_url          = var.issuer_url
  bucket_name         = var.bucket_name
  documents_dir       = var.documents_dir
  create_cloudfront   = true
  acm_certificate_arn = var.acm_certificate_arn
  thumbprints         = var.thumbprints
  wait_for_deployment = var.wait_for_deployment
  force_destroy       = true
  tags                = { cluster = "example" }
}
