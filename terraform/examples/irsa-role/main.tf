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

# What the pod may do: read one bucket's objects.
data "aws_iam_policy_document" "read_bucket" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${var.data_bucket}/*"]
  }
}

resource "aws_iam_policy" "read_bucket" {
  name   = "${var.namespace}-${var.service_account}-read-${var.data_bucket}"
  policy = data.aws_iam_policy_document.read_bucket.json
}

# A role only NAMESPACE/SERVICE_ACCOUNT can assume, with tokens from this issuer for sts.amazonaws.com.
module "irsa_role" {
  source = "../../modules/irsa-role"

  issuer_url        = var.issuer_url
  oidc_provider_arn = var.oidc_provider_arn
  namespace         = var.namespace
  service_account   = var.service_account
  policy_arns       = [aws_iam_policy.read_bucket.arn]
  tags              = { cluster = "example" }
}
