# Offline checks with a mocked AWS provider (no credentials, no API calls):
#   terraform init -backend=false && terraform test
# They evaluate names, for_each maps, redrive policies and optional features.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock", url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock", id = "https://sqs.us-east-1.amazonaws.com/123456789012/mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock" }
  }
  mock_resource "aws_cloudfront_distribution" {
    defaults = { arn = "arn:aws:cloudfront::123456789012:distribution/MOCK", domain_name = "d111.cloudfront.net" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_resource "aws_cognito_user_pool" {
    defaults = { id = "us-east-1_MOCK", endpoint = "cognito-idp.us-east-1.amazonaws.com/us-east-1_MOCK" }
  }
  mock_resource "aws_cognito_user_pool_client" {
    defaults = { id = "mockclient" }
  }
  mock_resource "aws_db_instance" {
    defaults = { address = "pertitle-database.abc.us-east-1.rds.amazonaws.com", port = 5432 }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pertitle-database" }
  }
}

mock_provider "random" {
  mock_resource "random_password" {
    defaults = { result = "mockpassword" }
  }
}

run "defaults" {
  command = apply
  assert {
    condition     = length(aws_sqs_queue.queue) == 11 && length(aws_sqs_queue.dlq) == 11 && length(aws_sns_topic.bus) == 8 && length(local.topic_arns) == 9
    error_message = "counts"
  }
  assert {
    condition     = aws_sqs_queue.queue["encoder-dispatch--encoding-requested"].name == "pertitle-encoder-dispatch--encoding-requested"
    error_message = "queue name"
  }
  assert {
    condition     = aws_sqs_queue.dlq["catalog--asset-uploaded"].name == "pertitle-catalog--asset-uploaded-dlq"
    error_message = "dlq name"
  }
  assert {
    condition     = aws_s3_bucket.input.bucket == "pertitle-input-123456789012"
    error_message = "bucket"
  }
  assert {
    condition     = length(aws_iam_role.irsa) == 0
    error_message = "optional off"
  }
  assert {
    condition     = aws_sns_topic.s3_object_created.name == "pertitle-s3-object-created" && aws_sqs_queue.queue["ingest--s3-object-created"].name == "pertitle-ingest--s3-object-created" && aws_sqs_queue.dlq["ingest--s3-object-created"].name == "pertitle-ingest--s3-object-created-dlq"
    error_message = "s3 events topic/queue names"
  }
  assert {
    condition     = aws_sns_topic_subscription.queue["ingest--s3-object-created"].raw_message_delivery && local.consumes["ingest"] == ["ingest--s3-object-created"]
    error_message = "s3 events subscription"
  }
  assert {
    condition     = length(aws_s3_bucket_notification.input) == 1 && one(aws_s3_bucket_notification.input[0].topic).filter_prefix == "uploads/" && one(aws_s3_bucket_notification.input[0].topic).events == toset(["s3:ObjectCreated:*"])
    error_message = "s3 notification on uploads/"
  }
  assert {
    condition     = aws_cloudfront_distribution.cdn.default_cache_behavior[0].target_origin_id == "output" && output.service_env.PERTITLE_S3_EVENTS == "true"
    error_message = "cdn default origin / env"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.queue["catalog--encoding-failed"].redrive_policy).maxReceiveCount == 5
    error_message = "redrive"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.dlq) == 11 && aws_sns_topic_subscription.queue["catalog--encoding-progress"].raw_message_delivery
    error_message = "alarms/raw"
  }
  assert {
    condition     = length(aws_db_instance.database) == 0 && length(aws_secretsmanager_secret.database) == 0 && output.database_secret_arn == ""
    error_message = "no database without subnets"
  }
}

run "cognito" {
  command = apply
  assert {
    condition     = output.oidc_env.PERTITLE_OIDC_ISSUER == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_MOCK" && length(output.oidc_env) == 4
    error_message = "oidc_env issuer"
  }
  assert {
    condition     = output.oidc_env.PERTITLE_OIDC_WEB_CLIENT_ID == "mockclient" && output.oidc_env.PERTITLE_OIDC_AUDIENCE == "mockclient,mockclient"
    error_message = "oidc_env clients"
  }
  assert {
    condition     = aws_cognito_user_group.admin.name == "admin" && aws_cognito_user_pool_client.app["web"].callback_urls == toset(["http://localhost:8080/"]) && !aws_cognito_user_pool_client.app["cli"].generate_secret
    error_message = "cognito group and clients"
  }
  assert {
    condition     = aws_cognito_user_pool_domain.users.domain == "pertitle-123456789012"
    error_message = "hosted UI domain"
  }
}

run "all_options" {
  command = apply
  variables {
    eks_oidc_provider_arn              = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
    keda_operator_role_arn             = "arn:aws:iam::123456789012:role/keda-operator"
    enable_s3_events                   = false
    catalog_domain_name                = "videos.example.com"
    sns_kms_master_key_id              = "arn:aws:kms:us-east-1:123456789012:key/abc"
    prefix                             = "stg-pertitle-"
    database_subnet_ids                = ["subnet-a", "subnet-b"]
    vpc_id                             = "vpc-1"
    database_client_security_group_ids = ["sg-nodes"]
  }
  assert {
    condition     = length(aws_iam_role.irsa) == 5 && aws_iam_role.irsa["encoder-dispatch"].name == "stg-pertitle-encoder-dispatch"
    error_message = "irsa"
  }
  assert {
    condition     = length(aws_s3_bucket_notification.input) == 0 && aws_sqs_queue.queue["ingest--s3-object-created"].name == "stg-pertitle-ingest--s3-object-created"
    error_message = "s3 events off: no notification, queue kept"
  }
  assert {
    condition     = aws_cloudfront_distribution.cdn.default_cache_behavior[0].target_origin_id == "catalog" && output.service_env.PERTITLE_MEDIA_BASE_URL == "https://d111.cloudfront.net/"
    error_message = "cdn via catalog"
  }
  assert {
    condition     = aws_cognito_user_pool_client.app["web"].callback_urls == toset(["https://videos.example.com/"]) && aws_cognito_user_pool.users.name == "stg-pertitle-users"
    error_message = "cognito with a catalog domain"
  }
  assert {
    condition     = local.oidc_issuer_host == "oidc.eks.us-east-1.amazonaws.com/id/ABC"
    error_message = "oidc host"
  }
  assert {
    condition     = sort(local.consumes["catalog"]) == sort(["catalog--asset-uploaded", "catalog--encoding-started", "catalog--encoding-progress", "catalog--encoding-finished", "catalog--encoding-failed", "catalog--encoding-requested", "catalog--asset-deleted"]) && local.consumes["ingest"] == ["ingest--s3-object-created"]
    error_message = "consumes"
  }
  assert {
    condition     = aws_db_instance.database[0].engine == "postgres" && aws_db_instance.database[0].identifier == "stg-pertitle-database" && !aws_db_instance.database[0].publicly_accessible && aws_db_instance.database[0].storage_encrypted
    error_message = "database instance"
  }
  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.database[0].secret_string).PERTITLE_STATE_DB == "postgres://pertitle:mockpassword@pertitle-database.abc.us-east-1.rds.amazonaws.com:5432/pertitle?sslmode=require" && jsondecode(aws_secretsmanager_secret_version.database[0].secret_string).PERTITLE_CATALOG_DB == jsondecode(aws_secretsmanager_secret_version.database[0].secret_string).PERTITLE_STATE_DB && jsondecode(aws_secretsmanager_secret_version.database[0].secret_string).PERTITLE_INGEST_DB == jsondecode(aws_secretsmanager_secret_version.database[0].secret_string).PERTITLE_STATE_DB
    error_message = "database secret URLs"
  }
  assert {
    condition     = [for r in aws_vpc_security_group_ingress_rule.database : r.referenced_security_group_id] == ["sg-nodes"] && output.database_secret_arn != ""
    error_message = "database reachable from the cluster only; secret output"
  }
}
