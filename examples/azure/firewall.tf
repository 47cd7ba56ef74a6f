terraform {
  required_version = ">= 1.5"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

provider "azurerm" {
  features {}
}

# Attach to the collectors' subnet or NICs (azurerm_subnet_network_security_group_association).
resource "azurerm_network_security_group" "syslog_collectors" {
  name                = "nsg-syslog-collectors"
  location            = var.location
  resource_group_name = var.resource_group_name
}

# One rule per transport: "*" would also let ICMP and everything else through.
resource "azurerm_network_security_rule" "syslog_allowed" {
  for_each = { Tcp = 100, Udp = 110 }

  name                        = "allow-syslog-${lower(each.key)}"
  priority                    = each.value
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = each.key
  source_address_prefixes     = var.syslog_sources
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_ranges     = var.syslog_ports
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.syslog_collectors.name
}

# Azure's default rules let the whole virtual network in: refuse the syslog ports to
# everyone else, so the flow logs show who tried (denied flows, state D).
resource "azurerm_network_security_rule" "syslog_denied" {
  name                        = "deny-syslog-others"
  priority                    = 4000
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_address_prefix       = "*"
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_ranges     = var.syslog_ports
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.syslog_collectors.name
}

output "network_security_group_id" {
  value = azurerm_network_security_group.syslog_collectors.id
}
