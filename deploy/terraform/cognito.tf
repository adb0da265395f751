# ---------------------------------------------------------------------------
# Sign-in: an Amazon Cognito user pool in place of the local issuer, with an
# app client for the web app and one for the CLI (both public: no secret,
# authorization code with PKCE), and the group whose members see every asset
# (pkg/auth AdminGroup). Output `oidc_env` is exactly the PERTITLE_OIDC_*
# settings the services, the web app and the CLI read
# (deploy/terraform/cognito_test.go checks it against the code).

resource "aws_cognito_user_pool" "users" {
  name = "${var.prefix}users"

  username_configuration {
    case_sensitive = false
  }
  auto_verified_attributes = ["email"]
  mfa_configuration        = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }
  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }
  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }
  # Accounts are created by administrators, not by visitors.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }
  # Set it to INACTIVE before `terraform destroy`.
  deletion_protection = "ACTIVE"
}

# The hosted sign-in pages (authorize, token, logout endpoints) on
# https://<domain>.auth.<region>.amazoncognito.com.
resource "aws_cognito_user_pool_domain" "users" {
  domain       = var.cognito_domain_prefix != "" ? var.cognito_domain_prefix : "${trimsuffix(var.prefix, "-")}-${local.account_id}"
  user_pool_id = aws_cognito_user_pool.users.id
}

# Members see every asset (cognito:groups contains "admin").
resource "aws_cognito_user_group" "admin" {
  name         = "admin"
  user_pool_id = aws_cognito_user_pool.users.id
  description  = "pertitle administrators: see and filter every user's assets"
}

locals {
  # The app clients and where each may be sent back after sign-in. web: the
  # catalog's address (the web app); cli: a loopback listener (RFC 8252), which
  # Cognito matches exactly, so the CLI must listen on one of these ports.
  cognito_clients = {
    web = length(var.web_callback_urls) > 0 ? var.web_callback_urls : (
      var.catalog_domain_name != "" ? ["https://${var.catalog_domain_name}/"] : ["http://localhost:8080/"]
    )
    cli = var.cli_callback_urls
  }
}

# Both are public clients (a browser, a CLI): no secret, authorization code
# with PKCE, short-lived access and id tokens, revocable refresh tokens.
resource "aws_cognito_user_pool_client" "app" {
  for_each = local.cognito_clients

  name                                 = "${var.prefix}${each.key}"
  user_pool_id                         = aws_cognito_user_pool.users.id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "profile", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = each.value
  logout_urls                          = each.key == "web" ? each.value : []
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = 15
  id_token_validity                    = 15
  refresh_token_validity               = 30
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}
