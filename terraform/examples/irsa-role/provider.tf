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
