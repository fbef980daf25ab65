variable "project_id" {
  description = "Project for lastgood and the storefront service."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region for lastgood, the pipeline and the storefront service."
  type        = string
  default     = "us-central1"
}

variable "lastgood_image" {
  description = "lastgood container image, pinned by tag or digest."
  type        = string
}

variable "lastgood_operator_tokens" {
  description = "LASTGOOD_OPERATOR_TOKENS entries (name:role:sha256hex) for people and tools calling lastgood's API; at least one."
  type        = list(string)
}

variable "storefront_bootstrap_image" {
  description = "Image of storefront's first revision only; Cloud Deploy releases every later one."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "paging_notification_channels" {
  description = "Notification channels (full names) that page the storefront on-call."
  type        = list(string)
  default     = []
}

variable "runbook_base_url" {
  description = "Base URL of lastgood's runbooks/ folder, linked from the alert documentation."
  type        = string
}
