# AWS infrastructure for pertitle: the same bus `pertitle provision` creates
# (SNS topics, SQS queues + DLQs with redrive, raw-delivery subscriptions, the
# s3-object-created topic and ingest's queue on it) plus what production needs:
# queue policies, the input and output S3 buckets (PERTITLE_STORAGE=s3), the
# input bucket's ObjectCreated notification on uploads/ (S3-event ingestion),
# CloudFront, least-privilege IAM per service (+ optional IRSA roles) and DLQ alarms;
# and, with database_subnet_ids, the PostgreSQL instance the replicas share and
# the secret with its connection URLs (database.tf).
#
# Use either this module or `pertitle provision` against a given account, not
# both: SQS CreateQueue fails with QueueAlreadyExists when the attributes it
# passes differ from those of an existing queue.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # pertitle's own events (protobuf envelopes).
  topics = toset([
    "asset-uploaded",
    "encoding-requested",
    "encoding-started",
    "encoding-progress",
    "encoding-finished",
    "encoding-failed",
    "chunk-requested",
    "asset-deleted",
  ])

  # Every topic a queue may subscribe to: the event topics plus the topic that
  # receives the input bucket's S3 event notifications (not a pertitle envelope).
  topic_arns = merge(
    { for t, topic in aws_sns_topic.bus : t => topic.arn },
    { (local.s3_events_topic) = aws_sns_topic.s3_object_created.arn },
  )
  s3_events_topic = "s3-object-created"

  # S3-event ingestion: objects created under this prefix of the input bucket
  # become assets (ingest ignores every other key; its own sources/ must not loop).
  uploads_prefix = "uploads/"

  # One SQS queue per (consumer service, topic): <prefix><service>--<topic>,
  # its DLQ <queue>-dlq, and a raw-delivery subscription of the queue to the topic.
  subscriptions = {
    "encoder-dispatch--asset-uploaded"     = { service = "encoder-dispatch", topic = "asset-uploaded" }
    "encoder-dispatch--encoding-requested" = { service = "encoder-dispatch", topic = "encoding-requested" }
    "encoder-dispatch--chunk-requested"    = { service = "encoder-dispatch", topic = "chunk-requested" }
    "catalog--asset-uploaded"              = { service = "catalog", topic = "asset-uploaded" }
    "catalog--encoding-started"            = { service = "catalog", topic = "encoding-started" }
    "catalog--encoding-progress"           = { service = "catalog", topic = "encoding-progress" }
    "catalog--encoding-finished"           = { service = "catalog", topic = "encoding-finished" }
    "catalog--encoding-failed"             = { service = "catalog", topic = "encoding-failed" }
    "catalog--encoding-requested"          = { service = "catalog", topic = "encoding-requested" }
    "catalog--asset-deleted"               = { service = "catalog", topic = "asset-deleted" }
    "ingest--s3-object-created"            = { service = "ingest", topic = "s3-object-created" }
  }

  services = toset(["ingest", "encoder-dispatch", "webhook-receiver", "catalog"])

  # Topics each service publishes to (internal/awsaccess: every consumer that
  # sweeps its dead-letter queues publishes EncodingFailed for what it finds).
  publishes = {
    "ingest"           = ["asset-uploaded", "encoding-failed"]
    "encoder-dispatch" = ["encoding-requested", "encoding-started", "encoding-progress", "encoding-failed", "chunk-requested"]
    "webhook-receiver" = ["encoding-finished", "encoding-failed"]
    "catalog"          = ["encoding-failed", "asset-deleted", "encoding-requested"]
  }

  # S3 actions each service needs on the keys under each prefix, as
  # internal/awsaccess derives them from the storage methods it calls
  # (pkg/storage S3Actions). sources/ and uploads/ are in the input bucket,
  # everything else in the output bucket. deploy/terraform/iam_test.go fails
  # unless the policies grant exactly internal/awsaccess.
  object_access = {
    "ingest" = [
      # the staged upload becomes the source (multipart above a part); deleted when publishing fails.
      # Direct uploads: the multipart upload is started, its parts presigned (the browser's PUT acts
      # with ingest's rights), listed, completed or aborted; the object read back, deleted if refused.
      { sid = "Sources", prefix = "sources/", actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts"] },
      # S3-event ingestion: reads the dropped object, deletes one it refuses
      { sid = "Uploads", prefix = "uploads/", actions = ["s3:GetObject", "s3:DeleteObject"] },
    ]
    "encoder-dispatch" = [
      { sid = "Sources", prefix = "sources/", actions = ["s3:GetObject"] },
      { sid = "Uploads", prefix = "uploads/", actions = ["s3:GetObject"] },
      # renditions, manifests, reports
      { sid = "Outputs", prefix = "outputs/", actions = ["s3:PutObject", "s3:AbortMultipartUpload"] },
      # job records, and chunked encoding's plan, pieces, claims (conditional PutObject) and markers
      { sid = "Jobs", prefix = "jobs/", actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:DeleteObject"] },
      # the Bitmovin reconciler skips encodings whose webhook completed
      { sid = "Completions", prefix = "completions/", actions = ["s3:GetObject"] },
    ]
    "webhook-receiver" = [
      # the local backend's job records
      { sid = "Jobs", prefix = "jobs/", actions = ["s3:GetObject"] },
      # completion markers: a replayed webhook publishes nothing
      { sid = "Completions", prefix = "completions/", actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"] },
    ]
    "catalog" = [
      # renditions and manifests served under /media/ (the CDN's origin)
      # and a deleted asset's outputs (DELETE /v1/assets/{id}) are removed
      { sid = "Outputs", prefix = "outputs/", actions = ["s3:GetObject", "s3:DeleteObject"] },
      # a deleted asset's source
      { sid = "Sources", prefix = "sources/", actions = ["s3:DeleteObject"] },
    ]
  }
  input_prefixes = ["sources/", "uploads/"]

  # Queues each service consumes (keys of local.subscriptions).
  consumes = {
    for svc in local.services : svc => [for k, s in local.subscriptions : k if s.service == svc]
  }

  input_bucket_name  = coalesce(var.input_bucket_name, "${var.prefix}input-${local.account_id}")
  output_bucket_name = coalesce(var.output_bucket_name, "${var.prefix}output-${local.account_id}")

  bus_topic_arn_pattern = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.prefix}*"
  bus_queue_arn_pattern = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${var.prefix}*"
}

# ---------------------------------------------------------------------------
# SNS topics

resource "aws_sns_topic" "bus" {
  for_each          = local.topics
  name              = "${var.prefix}${each.key}"
  kms_master_key_id = var.sns_kms_master_key_id
}

# ---------------------------------------------------------------------------
# SQS queues and dead-letter queues

resource "aws_sqs_queue" "dlq" {
  for_each                  = local.subscriptions
  name                      = "${var.prefix}${each.key}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  receive_wait_time_seconds = var.receive_wait_time_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "queue" {
  for_each                   = local.subscriptions
  name                       = "${var.prefix}${each.key}"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  message_retention_seconds  = var.message_retention_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Each DLQ accepts dead letters only from its own queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = local.subscriptions
  queue_url = aws_sqs_queue.dlq[each.key].id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

# Each queue accepts messages only from the topic it is subscribed to.
data "aws_iam_policy_document" "queue" {
  for_each = local.subscriptions

  statement {
    sid       = "AllowTopic"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.topic_arns[each.value.topic]]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.queue[each.key].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "queue" {
  for_each  = local.subscriptions
  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

# Raw delivery: the queue receives the published message body as is, without
# the SNS JSON envelope (the services expect that, as with goaws Raw: true; for
# s3-object-created the body is then S3's notification JSON itself).
resource "aws_sns_topic_subscription" "queue" {
  for_each             = local.subscriptions
  topic_arn            = local.topic_arns[each.value.topic]
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue[each.key].arn
  raw_message_delivery = true

  depends_on = [aws_sqs_queue_policy.queue]
}

# ---------------------------------------------------------------------------
# DLQ alarms: any message in a DLQ needs a human.

resource "aws_cloudwatch_metric_alarm" "dlq" {
  for_each            = local.subscriptions
  alarm_name          = "${var.prefix}${each.key}-dlq-not-empty"
  alarm_description   = "Messages in ${aws_sqs_queue.dlq[each.key].name}: ${each.value.service} failed ${var.max_receive_count} times on ${each.value.topic} events. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}

# ---------------------------------------------------------------------------
# S3 buckets (PERTITLE_STORAGE=s3). pkg/storage picks the bucket by key:
# sources/ and uploads/ go to the input bucket, everything else (outputs/, jobs/,
# completions/) to the output bucket.

resource "aws_s3_bucket" "input" {
  bucket        = local.input_bucket_name
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "output" {
  bucket        = local.output_bucket_name
  force_destroy = var.force_destroy_buckets
}

locals {
  buckets = {
    input  = aws_s3_bucket.input
    output = aws_s3_bucket.output
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "input" {
  bucket = aws_s3_bucket.input.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    # The S3 adapter aborts a failed multipart Put itself; this is the safety
    # net for a process killed mid-upload.
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "output" {
  bucket = aws_s3_bucket.output.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Direct uploads: the web app PUTs each part to its presigned URL on the input
# bucket, and reads the part's ETag (the upload API lists parts through ingest,
# but a browser that cannot see ETag cannot tell a stored part from a failed one).
resource "aws_s3_bucket_cors_configuration" "input" {
  bucket = aws_s3_bucket.input.id

  cors_rule {
    allowed_methods = ["PUT"]
    allowed_origins = var.upload_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_cors_configuration" "output" {
  bucket = aws_s3_bucket.output.id

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Content-Length", "Content-Range"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "input_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.input.arn, "${aws_s3_bucket.input.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "input" {
  bucket     = aws_s3_bucket.input.id
  policy     = data.aws_iam_policy_document.input_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

data "aws_iam_policy_document" "output_bucket" {
  statement {
    sid       = "AllowCloudFrontOAC"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.output.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.cdn.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.output.arn, "${aws_s3_bucket.output.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "output" {
  bucket     = aws_s3_bucket.output.id
  policy     = data.aws_iam_policy_document.output_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---------------------------------------------------------------------------
# S3-event ingestion: ObjectCreated events of the input bucket under uploads/ are
# published to <prefix>s3-object-created; ingest consumes its queue
# <prefix>ingest--s3-object-created (in local.subscriptions, with its DLQ, raw
# delivery, queue policy and alarm like every other queue) and turns each
# object into an asset (PERTITLE_S3_EVENTS=true, the default).

resource "aws_sns_topic" "s3_object_created" {
  name = "${var.prefix}${local.s3_events_topic}"
  # Left unencrypted on purpose: S3 can publish to a KMS-encrypted topic only
  # with a customer-managed key whose policy allows s3.amazonaws.com.
}

data "aws_iam_policy_document" "s3_object_created" {
  statement {
    sid       = "AllowInputBucketNotifications"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.s3_object_created.arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.input.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "s3_object_created" {
  arn    = aws_sns_topic.s3_object_created.arn
  policy = data.aws_iam_policy_document.s3_object_created.json
}

# S3 checks that it may publish when the notification is configured, hence the
# dependency on the topic policy. The topic, queue and subscription exist either
# way (as `pertitle provision` creates them); enable_s3_events only decides
# whether the bucket sends anything.
resource "aws_s3_bucket_notification" "input" {
  count  = var.enable_s3_events ? 1 : 0
  bucket = aws_s3_bucket.input.id

  topic {
    id            = "pertitle-uploads"
    topic_arn     = aws_sns_topic.s3_object_created.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = local.uploads_prefix
  }

  depends_on = [aws_sns_topic_policy.s3_object_created]
}

# ---------------------------------------------------------------------------
# CloudFront for playback.
#
# The catalog hands out SIGNED media paths (<base>s/<exp>/<sig>/outputs/...,
# README "Protected playback") and checks them itself, so the CDN must forward
# them to the catalog's /media/ as origin, with the full path as cache key:
# set catalog_domain_name (the catalog's public HTTPS host) and
# PERTITLE_MEDIA_BASE_URL=https://<cdn_domain_name>/. The origin path is /media,
# so the CDN exposes nothing of the catalog but /media/, and nothing routes to
# the output bucket, so unsigned paths stay unreachable.
#
# Without catalog_domain_name the distribution serves the output bucket directly
# (Origin Access Control). That does NOT work with the catalog's signed paths
# (S3 has no object s/<exp>/<sig>/...): leave PERTITLE_MEDIA_BASE_URL on the
# catalog's own https://<catalog>/media/ in that case. The bucket origin is what
# CloudFront signed URLs/cookies would use once the catalog issues those instead.

data "aws_cloudfront_cache_policy" "caching_optimized" {
  name = "Managed-CachingOptimized"
}

data "aws_cloudfront_origin_request_policy" "cors_s3_origin" {
  name = "Managed-CORS-S3Origin"
}

resource "aws_cloudfront_origin_access_control" "output" {
  name                              = "${var.prefix}output"
  description                       = "pertitle output bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

locals {
  cdn_via_catalog = var.catalog_domain_name != ""
}

resource "aws_cloudfront_distribution" "cdn" {
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "${var.prefix}playback (${local.cdn_via_catalog ? "catalog /media/ origin" : "output bucket"})"
  price_class     = var.cloudfront_price_class

  origin {
    origin_id                = "output"
    domain_name              = aws_s3_bucket.output.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.output.id
  }

  # The catalog as origin: it verifies the signature of every path and reads the
  # object from the output bucket (ranged GETs); its Cache-Control caps max-age
  # at the signature's expiry. CORS headers come from the catalog (*).
  dynamic "origin" {
    for_each = local.cdn_via_catalog ? [1] : []
    content {
      origin_id   = "catalog"
      domain_name = var.catalog_domain_name
      origin_path = "/media"

      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
        origin_read_timeout    = 30
      }
    }
  }

  default_cache_behavior {
    target_origin_id       = local.cdn_via_catalog ? "catalog" : "output"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD", "OPTIONS"]
    compress               = true
    # Cache key: the path (no query strings, cookies or headers); signed paths
    # carry their signature in the path.
    cache_policy_id          = data.aws_cloudfront_cache_policy.caching_optimized.id
    origin_request_policy_id = local.cdn_via_catalog ? null : data.aws_cloudfront_origin_request_policy.cors_s3_origin.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

# ---------------------------------------------------------------------------
# IAM: one least-privilege policy per service, plus one for `pertitle provision`.

data "aws_iam_policy_document" "service" {
  for_each = local.services

  # The publisher looks topic ARNs up when it knows no account id, and
  # readiness lists topics against an emulator; ListTopics takes no resource.
  statement {
    sid       = "TopicLookup"
    actions   = ["sns:ListTopics"]
    resources = ["*"]
  }

  # Publish to the topics the service emits; readiness (Bus.Ping) reads their
  # attributes, the cheapest call that proves each one is reachable.
  dynamic "statement" {
    for_each = length(local.publishes[each.key]) > 0 ? [1] : []
    content {
      sid       = "PublishEvents"
      actions   = ["sns:Publish", "sns:GetTopicAttributes"]
      resources = [for t in local.publishes[each.key] : aws_sns_topic.bus[t].arn]
    }
  }

  # Consume its own queues (ChangeMessageVisibility: the heartbeat of a long
  # encode, the hand-back at shutdown, Later; GetQueueAttributes: the depth
  # behind pertitle_queue_messages).
  dynamic "statement" {
    for_each = length(local.consumes[each.key]) > 0 ? [1] : []
    content {
      sid = "ConsumeQueues"
      actions = [
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
      ]
      resources = [for q in local.consumes[each.key] : aws_sqs_queue.queue[q].arn]
    }
  }

  # Its queues' DLQs: looked up once and read by readiness, written when the bus
  # dead-letters a malformed or permanently failed message itself, swept every
  # 10 s (receive, park for 12 h); their depth read for pertitle_queue_messages.
  dynamic "statement" {
    for_each = length(local.consumes[each.key]) > 0 ? [1] : []
    content {
      sid = "DeadLetterQueues"
      actions = [
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
      ]
      resources = [for q in local.consumes[each.key] : aws_sqs_queue.dlq[q].arn]
    }
  }

  # KEDA (identityOwner: workload) reads the depth of the queues with this role.
  dynamic "statement" {
    for_each = contains(local.keda_scaled, each.key) ? [1] : []
    content {
      sid       = "KedaQueueDepth"
      actions   = ["sqs:GetQueueAttributes"]
      resources = [for q in local.consumes[each.key] : aws_sqs_queue.queue[q].arn]
    }
  }

  # SNS server-side encryption with a KMS key: publishers need the data key.
  dynamic "statement" {
    for_each = var.sns_kms_master_key_id != null && length(local.publishes[each.key]) > 0 ? [1] : []
    content {
      sid       = "UseTopicKey"
      actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
      resources = [var.sns_kms_master_key_id]
    }
  }

  # --- S3 (PERTITLE_STORAGE=s3). Readiness heads BOTH buckets (s3:ListBucket),
  # chunked encoding lists and deletes under jobs/, and listing also makes a
  # missing key a 404 instead of a 403.
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.input.arn, aws_s3_bucket.output.arn]
  }

  dynamic "statement" {
    for_each = local.object_access[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = ["${contains(local.input_prefixes, statement.value.prefix) ? aws_s3_bucket.input.arn : aws_s3_bucket.output.arn}/${statement.value.prefix}*"]
    }
  }
}

# `pertitle provision` (the Kubernetes Job / CI): create and configure the bus,
# limited to resources named with the prefix. Not needed when terraform owns the bus.
data "aws_iam_policy_document" "provision" {
  statement {
    sid = "ManageTopics"
    actions = [
      "sns:CreateTopic",
      "sns:GetTopicAttributes",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:ListSubscriptionsByTopic",
      "sns:GetSubscriptionAttributes",
      "sns:SetSubscriptionAttributes",
      "sns:TagResource",
    ]
    resources = [local.bus_topic_arn_pattern]
  }

  statement {
    sid = "ManageQueues"
    actions = [
      "sqs:CreateQueue",
      "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
      "sqs:SetQueueAttributes",
      "sqs:TagQueue",
    ]
    resources = [local.bus_queue_arn_pattern]
  }
}

resource "aws_iam_policy" "service" {
  for_each    = local.services
  name        = "${var.prefix}${each.key}"
  description = "pertitle ${each.key}: least privilege on the bus and buckets"
  policy      = data.aws_iam_policy_document.service[each.key].json
}

resource "aws_iam_policy" "provision" {
  name        = "${var.prefix}provision"
  description = "pertitle provision: create the SNS/SQS bus"
  policy      = data.aws_iam_policy_document.provision.json
}

# ---------------------------------------------------------------------------
# Optional IRSA roles (EKS): role <prefix><name> trusted by the ServiceAccount
# <namespace>/<name> (deploy/k8s/serviceaccounts.yaml).

locals {
  irsa_enabled     = var.eks_oidc_provider_arn != ""
  oidc_issuer_host = local.irsa_enabled ? element(split(":oidc-provider/", var.eks_oidc_provider_arn), 1) : ""

  workload_policies = merge(
    { for svc in local.services : svc => aws_iam_policy.service[svc].arn },
    { "provision" = aws_iam_policy.provision.arn },
  )

  # Workloads KEDA scales (identityOwner: workload) must also trust KEDA's role,
  # and their role reads their queues' depth (sqs:GetQueueAttributes) for KEDA.
  # The Helm chart scales encoder-dispatch only (the catalog is one writer).
  keda_scaled = toset(["encoder-dispatch"])
}

data "aws_iam_policy_document" "irsa_trust" {
  for_each = { for k, v in local.workload_policies : k => v if local.irsa_enabled }

  statement {
    sid     = "ServiceAccount"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer_host}:sub"
      values   = ["system:serviceaccount:${var.k8s_namespace}:${each.key}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.keda_operator_role_arn != "" && contains(local.keda_scaled, each.key) ? [1] : []
    content {
      sid     = "KedaOperator"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = [var.keda_operator_role_arn]
      }
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each           = { for k, v in local.workload_policies : k => v if local.irsa_enabled }
  name               = "${var.prefix}${each.key}"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
}

resource "aws_iam_role_policy_attachment" "irsa" {
  for_each   = { for k, v in local.workload_policies : k => v if local.irsa_enabled }
  role       = aws_iam_role.irsa[each.key].name
  policy_arn = each.value
}
