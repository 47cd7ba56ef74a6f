#!/bin/sh
# Copies new VPC flow-log objects from S3 and unpacks each into /var/log/aws/vpc-flow,
# where config/vpc-flow.yml tails them with `parser: aws-vpc` (each file's header line
# names its fields). Run every few minutes (cron or a systemd timer) with credentials
# that can read the bucket (an instance profile with s3:GetObject and s3:ListBucket).
#   FLOW_LOG_PREFIX  the flow_log_prefix output of this Terraform
set -eu
: "${FLOW_LOG_PREFIX:?the flow_log_prefix output of the Terraform}"
raw="${VPC_FLOW_RAW_DIR:-/var/lib/vpc-flow-raw}"
out="${VPC_FLOW_DIR:-/var/log/aws/vpc-flow}"
mkdir -p "$raw" "$out"
aws s3 sync "$FLOW_LOG_PREFIX" "$raw" --only-show-errors --exclude "*" --include "*.log.gz"
find "$raw" -name '*.log.gz' | while read -r gz; do
    name="$(basename "$gz" .gz)"
    [ -e "$out/$name" ] && continue
    # Unpacked under a name the input's glob (*.log) does not match, then renamed: the
    # file appears whole.
    gunzip -c "$gz" > "$out/.$name.part"
    mv "$out/.$name.part" "$out/$name"
done
# Unpacked files older than a week go; lumberwatch has read them long before.
find "$out" -name '*.log' -mtime +7 -delete
