# A role that exactly one service account can assume: trust pinned with StringEquals on both :sub and :aud.
locals {
  provider_path = trim(trimprefix(var.issuer_url, "https://"), "/")
  # The CLI's default name (oidc_publisher/core/trust.py default_role_name): irsa-CLUSTER-NS-SA cut to 55
  # characters, CLUSTER being the issuer host's first label, then a hash of the provider path (HOST/PATH),
  # namespace and service account: the readable part alone is the same for two issuers on one host or
  # one parent domain, the hash never is.
  cluster      = split(".", split("/", local.provider_path)[0])[0]
  default_name = replace("irsa-${local.cluster}-${var.namespace}-${var.service_account}", "/[^A-Za-z0-9+=,.@_-]/", "-")
  default_hash = substr(sha256("${local.provider_path}|${var.namespace}|${var.service_account}"), 0, 8)
  role_name    = var.role_name != null ? var.role_name : "${substr(local.default_name, 0, 55)}-${local.default_hash}"
}

data "aws_iam_policy_document" "trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.provider_path}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.provider_path}:aud"
      values   = [var.audience]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = local.role_name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  permissions_boundary = var.permissions_boundary
  max_session_duration = var.max_session_duration
  tags = merge(var.tags, {
    "kubernetes.io/namespace"       = var.namespace
    "kubernetes.io/service-account" = var.service_account
  })
}

# count, not for_each: a count is known at plan time even when the ARNs are not (a policy created in
# the same apply), and detaching and re-attaching on reorder is harmless.
resource "aws_iam_role_policy_attachment" "this" {
  count      = length(var.policy_arns)
  role       = aws_iam_role.this.name
  policy_arn = var.policy_arns[count.index]
}
