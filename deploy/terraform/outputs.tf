output "topic_arns" {
  description = "SNS topic ARN by topic name (the six event topics and s3-object-created)."
  value       = local.topic_arns
}

output "queue_urls" {
  description = "SQS queue URL by <service>--<topic> (use in KEDA ScaledObjects)."
  value       = { for k, q in aws_sqs_queue.queue : k => q.url }
}

output "queue_arns" {
  description = "SQS queue ARN by <service>--<topic>."
  value       = { for k, q in aws_sqs_queue.queue : k => q.arn }
}

output "dlq_urls" {
  description = "Dead-letter queue URL by <service>--<topic>."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "input_bucket" {
  description = "PERTITLE_S3_INPUT_BUCKET."
  value       = aws_s3_bucket.input.bucket
}

output "output_bucket" {
  description = "PERTITLE_S3_OUTPUT_BUCKET."
  value       = aws_s3_bucket.output.bucket
}

output "s3_events_topic_arn" {
  description = "SNS topic <prefix>s3-object-created receiving the input bucket's ObjectCreated events under uploads/ (ingest consumes it through <prefix>ingest--s3-object-created)."
  value       = aws_sns_topic.s3_object_created.arn
}

output "cdn_domain_name" {
  description = "CloudFront domain. With catalog_domain_name set, PERTITLE_MEDIA_BASE_URL=https://<this>/ (it forwards to the catalog's /media/)."
  value       = aws_cloudfront_distribution.cdn.domain_name
}

output "cdn_distribution_id" {
  description = "CloudFront distribution id (for invalidations)."
  value       = aws_cloudfront_distribution.cdn.id
}

output "iam_policy_arns" {
  description = "Least-privilege IAM policy ARN by workload."
  value       = local.workload_policies
}

output "iam_role_arns" {
  description = "IRSA role ARN by workload (empty unless eks_oidc_provider_arn is set); annotate the ServiceAccounts with these."
  value       = { for k, r in aws_iam_role.irsa : k => r.arn }
}

output "service_env" {
  description = "Settings for the services against this deployment."
  value = {
    PERTITLE_AWS_ENDPOINT           = ""
    PERTITLE_AWS_REGION             = local.region
    PERTITLE_AWS_ACCOUNT_ID         = local.account_id
    PERTITLE_BUS_PREFIX             = var.prefix
    PERTITLE_BUS_MAX_RECEIVES       = tostring(var.max_receive_count)
    PERTITLE_BUS_VISIBILITY_TIMEOUT = "${var.visibility_timeout_seconds}s"
    PERTITLE_BUS_WAIT_TIME          = "${var.receive_wait_time_seconds}s"
    PERTITLE_STORAGE                = "s3"
    PERTITLE_S3_ENDPOINT            = ""
    PERTITLE_S3_REGION              = local.region
    PERTITLE_S3_INPUT_BUCKET        = aws_s3_bucket.input.bucket
    PERTITLE_S3_OUTPUT_BUCKET       = aws_s3_bucket.output.bucket
    PERTITLE_S3_EVENTS              = tostring(var.enable_s3_events)
    # Through the CDN only when it forwards to the catalog (catalog_domain_name).
    PERTITLE_MEDIA_BASE_URL = var.catalog_domain_name != "" ? "https://${aws_cloudfront_distribution.cdn.domain_name}/" : "https://<catalog host>/media/"
  }
}

output "oidc_env" {
  description = "The PERTITLE_OIDC_* settings for this deployment's Cognito user pool: ISSUER and AUDIENCE for ingest and the catalog (AUDIENCE accepts both app clients), WEB_CLIENT_ID for the catalog's web app, CLIENT_ID for the CLI (with ISSUER)."
  value = {
    PERTITLE_OIDC_ISSUER        = "https://${aws_cognito_user_pool.users.endpoint}"
    PERTITLE_OIDC_AUDIENCE      = join(",", [aws_cognito_user_pool_client.app["web"].id, aws_cognito_user_pool_client.app["cli"].id])
    PERTITLE_OIDC_WEB_CLIENT_ID = aws_cognito_user_pool_client.app["web"].id
    PERTITLE_OIDC_CLIENT_ID     = aws_cognito_user_pool_client.app["cli"].id
  }
}

output "cognito_hosted_ui" {
  description = "Base URL of the Cognito hosted sign-in pages."
  value       = "https://${aws_cognito_user_pool_domain.users.domain}.auth.${local.region}.amazoncognito.com"
}

output "database_secret_arn" {
  description = "Secrets Manager secret with PERTITLE_CATALOG_DB, PERTITLE_STATE_DB and PERTITLE_INGEST_DB (postgres:// URLs), for the Kubernetes Secret pertitle-database; empty without database_subnet_ids."
  value       = local.database ? aws_secretsmanager_secret.database[0].arn : ""
}

output "database_address" {
  description = "Host name of the PostgreSQL instance; empty without database_subnet_ids."
  value       = local.database ? aws_db_instance.database[0].address : ""
}
