output "topic_arns" {
  description = "SNS topic ARN by event name."
  value       = { for t, topic in aws_sns_topic.bus : t => topic.arn }
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

output "input_events_topic_arn" {
  description = "SNS topic receiving the input bucket's object-created events (null unless enable_input_notifications)."
  value       = var.enable_input_notifications ? aws_sns_topic.input_object_created[0].arn : null
}

output "cdn_domain_name" {
  description = "CloudFront domain; PERTITLE_MEDIA_BASE_URL=https://<this>/."
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
    PERTITLE_AWS_ENDPOINT     = ""
    PERTITLE_AWS_REGION       = local.region
    PERTITLE_AWS_ACCOUNT_ID   = local.account_id
    PERTITLE_BUS_PREFIX       = var.prefix
    PERTITLE_STORAGE          = "s3"
    PERTITLE_S3_INPUT_BUCKET  = aws_s3_bucket.input.bucket
    PERTITLE_S3_OUTPUT_BUCKET = aws_s3_bucket.output.bucket
    PERTITLE_MEDIA_BASE_URL   = "https://${aws_cloudfront_distribution.cdn.domain_name}/"
  }
}
