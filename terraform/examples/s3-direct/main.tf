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
