# NSG flow logs (version 2) of the collectors' NSG into a storage account, as PT1H.json
# blobs; sync-flow-logs.sh copies them to the host, where lumberwatch reads them with
# `parser: azure-nsg` (config/nsg-flow.yml). Azure takes no new NSG flow logs since
# 30 June 2025: for a new setup, give target_resource_id a virtual network's id instead
# (VNet flow logs) and use `parser: azure-vnet`.

resource "azurerm_storage_account" "flow_logs" {
  name                            = var.flow_log_storage_account_name
  resource_group_name             = var.resource_group_name
  location                        = var.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
}

resource "azurerm_network_watcher_flow_log" "syslog_collectors" {
  name                 = "flowlog-nsg-syslog-collectors"
  network_watcher_name = var.network_watcher_name
  resource_group_name  = var.network_watcher_resource_group_name
  target_resource_id   = azurerm_network_security_group.syslog_collectors.id
  storage_account_id   = azurerm_storage_account.flow_logs.id
  enabled              = true
  version              = 2

  retention_policy {
    enabled = true
    days    = var.flow_log_retention_days
  }
}

output "flow_log_container" {
  description = "The container Azure writes the PT1H.json blobs to."
  value       = "https://${azurerm_storage_account.flow_logs.name}.blob.core.windows.net/insights-logs-networksecuritygroupflowevent"
}
