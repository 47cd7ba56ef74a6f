terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

# Attach to the collectors' instances or ENIs. A security group denies what it does not
# allow, and the VPC flow logs record the rejected attempts (action REJECT).
resource "aws_security_group" "syslog_collectors" {
  name        = "syslog-collectors"
  description = "Syslog on TCP/UDP 514 and 3000 from the proxies only"
  vpc_id      = var.vpc_id
}

locals {
  # One rule per source, transport and port: 5 x 2 x 2 = 20.
  syslog_rules = {
    for rule in setproduct(var.syslog_sources, ["tcp", "udp"], var.syslog_ports) :
    "${rule[0]}-${rule[1]}-${rule[2]}" => {
      source   = rule[0]
      protocol = rule[1]
      port     = rule[2]
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "syslog" {
  for_each = local.syslog_rules

  security_group_id = aws_security_group.syslog_collectors.id
  description       = "syslog from ${each.value.source}"
  cidr_ipv4         = "${each.value.source}/32"
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
}

# The collectors ship to Logstash (5044) and answer on the connections above.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.syslog_collectors.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

output "security_group_id" {
  value = aws_security_group.syslog_collectors.id
}
