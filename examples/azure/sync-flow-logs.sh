#!/bin/sh
# Copies the NSG flow-log blobs (PT1H.json, one per NSG, MAC address and hour, appended
# to by Azure through the hour) to /var/lib/nsg-flow, where config/nsg-flow.yml tails
# them with `parser: azure-nsg`. Run every minute (cron or a systemd timer) as a user
# that can write there; lumberwatch only needs to read.
#   FLOW_LOG_CONTAINER  the flow_log_container output of this Terraform
#   AZCOPY_AUTO_LOGIN_TYPE=MSI  (a managed identity with Storage Blob Data Reader) or a
#                       SAS appended to FLOW_LOG_CONTAINER
set -eu
: "${FLOW_LOG_CONTAINER:?the flow_log_container output of the Terraform}"
dest="${NSG_FLOW_DIR:-/var/lib/nsg-flow}"
mkdir -p "$dest"
# Only new or grown blobs are copied; nothing is ever deleted locally by the sync.
azcopy sync "$FLOW_LOG_CONTAINER" "$dest" --recursive --delete-destination=false \
    --include-pattern "PT1H.json" --log-level ERROR
