# The users' story: the syslog collectors take syslog on TCP and UDP 514 and 3000 from
# three proxies in 10.10.10.0/24 and two in 192.168.1.0/24, and from nothing else.

variable "resource_group_name" {
  description = "Resource group of the collectors' network security group."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}

variable "syslog_sources" {
  description = "Addresses allowed to send syslog."
  type        = list(string)
  default     = ["10.10.10.1", "10.10.10.2", "10.10.10.3", "192.168.1.1", "192.168.1.2"]
}

variable "syslog_ports" {
  description = "Ports the collectors take syslog on, over TCP and UDP."
  type        = list(string)
  default     = ["514", "3000"]
}

variable "network_watcher_name" {
  description = "The region's Network Watcher (Azure creates NetworkWatcher_<region>)."
  type        = string
  default     = "NetworkWatcher_westeurope"
}

variable "network_watcher_resource_group_name" {
  description = "The Network Watcher's resource group."
  type        = string
  default     = "NetworkWatcherRG"
}

variable "flow_log_storage_account_name" {
  description = "Storage account for the flow logs (3-24 lowercase letters and digits)."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days the flow-log blobs are kept in the storage account."
  type        = number
  default     = 7
}
