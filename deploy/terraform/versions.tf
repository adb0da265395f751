terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Configure a remote backend (S3 + DynamoDB lock, or HCP) per environment, e.g.
  # terraform init -backend-config=backend.hcl with:
  # backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ "app.kubernetes.io/part-of" = "pertitle", "managed-by" = "terraform" }, var.tags)
  }
}
