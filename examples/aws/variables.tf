# The users' story: the syslog collectors take syslog on TCP and UDP 514 and 3000 from
# three proxies in 10.10.10.0/24 and two in 192.168.1.0/24, and from nothing else.

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "The collectors' VPC."
  type        = string
}

variable "syslog_sources" {
  description = "Addresses allowed to send syslog."
  type        = list(string)
  default     = ["10.10.10.1", "10.10.10.2", "10.10.10.3", "192.168.1.1", "192.168.1.2"]
}

variable "syslog_ports" {
  description = "Ports the collectors take syslog on, over TCP and UDP."
  type        = list(number)
  default     = [514, 3000]
}

variable "flow_log_bucket" {
  description = "S3 bucket (created here) for the VPC flow logs."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days the flow-log objects are kept in the bucket."
  type        = number
  default     = 7
}
