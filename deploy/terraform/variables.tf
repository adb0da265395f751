variable "region" {
  description = "AWS region. Set PERTITLE_AWS_REGION to the same value."
  type        = string
  default     = "us-east-1"
}

variable "prefix" {
  description = "Prefix of every topic and queue name (PERTITLE_BUS_PREFIX) and of the other resources."
  type        = string
  default     = "pertitle-"

  validation {
    condition     = can(regex("^[a-z0-9-]{0,40}$", var.prefix))
    error_message = "prefix must be lowercase letters, digits and dashes (it also prefixes S3 bucket names)."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to its DLQ (PERTITLE_BUS_MAX_RECEIVES)."
  type        = number
  default     = 5
}

variable "visibility_timeout_seconds" {
  description = "SQS visibility timeout (PERTITLE_BUS_VISIBILITY_TIMEOUT). Long encodes extend it with a heartbeat; a crashed consumer's message reappears after this delay."
  type        = number
  default     = 60
}

variable "receive_wait_time_seconds" {
  description = "SQS long-polling wait (PERTITLE_BUS_WAIT_TIME)."
  type        = number
  default     = 20
}

variable "message_retention_seconds" {
  description = "Retention of the work queues."
  type        = number
  default     = 345600 # 4 days
}

variable "dlq_message_retention_seconds" {
  description = "Retention of the dead-letter queues (keep it longer than the work queues: SQS keeps a message's original enqueue timestamp when it moves to a DLQ)."
  type        = number
  default     = 1209600 # 14 days, the maximum
}

variable "sns_kms_master_key_id" {
  description = "Optional KMS key (ARN) for SNS server-side encryption of the bus topics. null leaves the topics unencrypted at rest (SQS queues are always encrypted with SSE-SQS). A customer-managed key must allow sns.amazonaws.com to use it."
  type        = string
  default     = null
}

variable "input_bucket_name" {
  description = "Input (uploads) bucket. null: <prefix>input-<account id>. Set PERTITLE_S3_INPUT_BUCKET to it."
  type        = string
  default     = null
}

variable "output_bucket_name" {
  description = "Output (renditions, manifests) bucket. null: <prefix>output-<account id>. Set PERTITLE_S3_OUTPUT_BUCKET to it."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Allow terraform destroy to delete non-empty buckets (dev/test only)."
  type        = bool
  default     = false
}

variable "enable_s3_events" {
  description = "S3-event ingestion: the input bucket publishes s3:ObjectCreated:* events under uploads/ to <prefix>s3-object-created, which ingest consumes (PERTITLE_S3_EVENTS). The topic, ingest's queue and its DLQ are created either way; false only turns the bucket notification off (then set PERTITLE_S3_EVENTS=false too or leave the queue idle)."
  type        = bool
  default     = true
}

variable "catalog_domain_name" {
  description = "Public HTTPS host name of the catalog (e.g. videos.example.com). Set: CloudFront forwards every path to https://<this>/media/ (the catalog checks the signed media paths it hands out) and PERTITLE_MEDIA_BASE_URL=https://<cdn_domain_name>/. Empty: CloudFront serves the output bucket directly, which does not serve the catalog's signed paths (keep PERTITLE_MEDIA_BASE_URL on the catalog's /media/)."
  type        = string
  default     = ""
}

variable "cors_allowed_origins" {
  description = "Origins allowed to fetch manifests and segments from the CDN (browser players)."
  type        = list(string)
  default     = ["*"]
}

variable "upload_allowed_origins" {
  description = "Origins of the web app, allowed to PUT upload parts straight to the input bucket (presigned URLs). Set it to the app's address; never \"*\" in production."
  type        = list(string)
  default     = ["http://localhost:8080", "http://127.0.0.1:8080"]
}

variable "cloudfront_price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "alarm_actions" {
  description = "ARNs notified when a DLQ alarm fires or recovers (e.g. an ops SNS topic)."
  type        = list(string)
  default     = []
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider. When set, one IRSA role per workload is created (names <prefix><service>) with its policy attached."
  type        = string
  default     = ""
}

variable "k8s_namespace" {
  description = "Kubernetes namespace of the workloads (IRSA trust: system:serviceaccount:<namespace>:<service>)."
  type        = string
  default     = "pertitle"
}

variable "keda_operator_role_arn" {
  description = "IAM role of the KEDA operator. With KEDA identityOwner: workload, KEDA assumes the scaled workload's role, so that role must trust this one. Empty: no such trust."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted sign-in domain (https://<this>.auth.<region>.amazoncognito.com). Empty: <prefix without its trailing dash>-<account id>."
  type        = string
  default     = ""
}

variable "web_callback_urls" {
  description = "Where Cognito may send the web app back after sign-in (the catalog's address, with the trailing slash). Empty: https://<catalog_domain_name>/, or http://localhost:8080/ without one."
  type        = list(string)
  default     = []
}

variable "cli_callback_urls" {
  description = "Loopback redirect URLs of the CLI's browser sign-in (Cognito allows plain http only for localhost)."
  type        = list(string)
  default     = ["http://localhost:8400/callback"]
}

variable "database_subnet_ids" {
  description = "Private subnets (two zones or more) for the PostgreSQL instance the replicas share (PERTITLE_CATALOG_DB, PERTITLE_STATE_DB, PERTITLE_INGEST_DB). Empty: no database is created; bring your own and fill the pertitle-database Secret yourself."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC of database_subnet_ids (the database's security group lives there)."
  type        = string
  default     = ""
}

variable "database_client_security_group_ids" {
  description = "Security groups allowed to reach PostgreSQL on 5432: the EKS nodes' (or the pods' with security groups for pods)."
  type        = list(string)
  default     = []
}

variable "database_instance_class" {
  description = "RDS instance class of the database."
  type        = string
  default     = "db.t4g.medium"
}

variable "database_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "database_allocated_storage" {
  description = "Storage of the database in GiB (autoscaling up to five times as much)."
  type        = number
  default     = 20
}

variable "database_multi_az" {
  description = "A standby in another zone, so that losing a zone loses no replica's state."
  type        = bool
  default     = true
}

variable "database_deletion_protection" {
  description = "Refuse to delete the database (turn off before destroying)."
  type        = bool
  default     = true
}
