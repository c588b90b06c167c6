# A role for default/my-app with read-only access.
module "irsa_role" {
  source = "../../modules/irsa-role"

  issuer_url        = var.issuer_url
  oidc_provider_arn = var.oidc_provider_arn
  namespace         = "default"
  service_account   = "my-app"
  policy_arns       = []
  tags              = { cluster = "example" }
}
