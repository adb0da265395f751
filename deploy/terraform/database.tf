# PostgreSQL for the replicas: the catalog's assets and analytics
# (PERTITLE_CATALOG_DB), the idempotency claims every service's replicas
# share (PERTITLE_STATE_DB) and ingest's direct upload sessions
# (PERTITLE_INGEST_DB), in one RDS instance reachable only from the
# cluster's security groups. Its connection URLs go to a Secrets Manager
# secret (database_secret_arn) whose keys are the variables' names, for the
# External Secrets Operator to copy into the Kubernetes Secret
# pertitle-database (deploy/README.md "Secrets"). Created when
# database_subnet_ids names the subnets to place it in.

locals {
  database     = length(var.database_subnet_ids) > 0
  database_url = local.database ? "postgres://${aws_db_instance.database[0].username}:${urlencode(random_password.database[0].result)}@${aws_db_instance.database[0].address}:${aws_db_instance.database[0].port}/${aws_db_instance.database[0].db_name}?sslmode=require" : ""
}

resource "random_password" "database" {
  count   = local.database ? 1 : 0
  length  = 40
  special = false # URL-safe without escaping
}

resource "aws_db_subnet_group" "database" {
  count      = local.database ? 1 : 0
  name       = "${var.prefix}database"
  subnet_ids = var.database_subnet_ids
}

resource "aws_security_group" "database" {
  count       = local.database ? 1 : 0
  name        = "${var.prefix}database"
  description = "PostgreSQL of pertitle, from the cluster only"
  vpc_id      = var.vpc_id
  lifecycle {
    precondition {
      condition     = var.vpc_id != "" && length(var.database_client_security_group_ids) > 0
      error_message = "database_subnet_ids needs vpc_id and database_client_security_group_ids (who may connect)."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each                     = local.database ? toset(var.database_client_security_group_ids) : toset([])
  security_group_id            = aws_security_group.database[0].id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from the pods of pertitle"
}

resource "aws_db_instance" "database" {
  count                           = local.database ? 1 : 0
  identifier                      = "${var.prefix}database"
  engine                          = "postgres"
  engine_version                  = var.database_engine_version
  instance_class                  = var.database_instance_class
  allocated_storage               = var.database_allocated_storage
  max_allocated_storage           = var.database_allocated_storage * 5
  storage_type                    = "gp3"
  storage_encrypted               = true
  multi_az                        = var.database_multi_az
  db_name                         = "pertitle"
  username                        = "pertitle"
  password                        = random_password.database[0].result
  db_subnet_group_name            = aws_db_subnet_group.database[0].name
  vpc_security_group_ids          = [aws_security_group.database[0].id]
  publicly_accessible             = false
  backup_retention_period         = 7
  deletion_protection             = var.database_deletion_protection
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${var.prefix}database-final"
  performance_insights_enabled    = true
  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql"]
}

resource "aws_secretsmanager_secret" "database" {
  count       = local.database ? 1 : 0
  name        = "${var.prefix}database"
  description = "PERTITLE_CATALOG_DB, PERTITLE_STATE_DB and PERTITLE_INGEST_DB: postgres:// URLs of pertitle's database"
}

resource "aws_secretsmanager_secret_version" "database" {
  count     = local.database ? 1 : 0
  secret_id = aws_secretsmanager_secret.database[0].id
  secret_string = jsonencode({
    PERTITLE_CATALOG_DB = local.database_url
    PERTITLE_STATE_DB   = local.database_url
    PERTITLE_INGEST_DB  = local.database_url
  })
}
