# VPC flow logs of the collectors' VPC into S3 as plain text (gzipped objects with a
# header line naming the fields); sync-flow-logs.sh copies and unpacks them on the host,
# where lumberwatch reads them with `parser: aws-vpc` (config/vpc-flow.yml), taking the
# fields from each file's header.

resource "aws_s3_bucket" "flow_logs" {
  bucket = var.flow_log_bucket
}

resource "aws_s3_bucket_public_access_block" "flow_logs" {
  bucket                  = aws_s3_bucket.flow_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "flow_logs" {
  bucket = aws_s3_bucket.flow_logs.id

  rule {
    id     = "expire-flow-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.flow_log_retention_days
    }
  }
}

resource "aws_flow_log" "collectors" {
  vpc_id                   = var.vpc_id
  traffic_type             = "ALL"
  log_destination_type     = "s3"
  log_destination          = aws_s3_bucket.flow_logs.arn
  max_aggregation_interval = 60
  # Version 2's fields, plus the TCP flags and the packet's own addresses.
  log_format = "$${version} $${account-id} $${interface-id} $${srcaddr} $${dstaddr} $${srcport} $${dstport} $${protocol} $${packets} $${bytes} $${start} $${end} $${action} $${log-status} $${tcp-flags} $${pkt-srcaddr} $${pkt-dstaddr}"

  destination_options {
    file_format        = "plain-text"
    per_hour_partition = true
  }
}

output "flow_log_prefix" {
  description = "Where the objects are: s3://<bucket>/AWSLogs/<account>/vpcflowlogs/<region>/..."
  value       = "s3://${aws_s3_bucket.flow_logs.bucket}/AWSLogs/"
}
