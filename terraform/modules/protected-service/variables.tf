variable "target_name" {
  description = "The target's name in lastgood's policy file. Rollback alert policies carry it as the user label `lastgood_target`, which is how lastgood routes an alert to the target."
  type        = string

  validation {
    # The same rule as TARGET_NAME in src/config.ts: the name doubles as a Cloud Monitoring label value.
    condition     = can(regex("^[a-z][a-z0-9_-]{0,62}$", var.target_name))
    error_message = "target_name must be 1-63 lowercase letters, digits, _ or -, starting with a letter (lastgood's target name rule)."
  }
}

variable "project_id" {
  description = "Project of the Cloud Run service the SLO measures."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region of the Cloud Run service (and of the Cloud Deploy pipeline, when one is used)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "service_name" {
  description = "Name of the Cloud Run service whose requests the availability SLO counts (for a Cloud Deploy target: the service the target's release deploys)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$", var.service_name))
    error_message = "service_name must be a Cloud Run service name: lowercase letters, digits and hyphens, at most 49 characters."
  }
}

variable "monitoring_project_id" {
  description = "Project that holds the custom service, SLO and alert policies. Alert policies can only notify channels of their own project, so for a service outside lastgood's project set this to lastgood's project and add the service's project to that project's metrics scope. Defaults to project_id."
  type        = string
  default     = null
}

variable "cloud_deploy" {
  description = "Set when the target is rolled back through Cloud Deploy: the delivery pipeline, the target id in it, and the target's execution service account (PROJECT_NUMBER-compute@developer.gserviceaccount.com if the target sets none), which lastgood must act as to create the rollback rollout. Leave null for a plain Cloud Run target."
  type = object({
    pipeline                        = string
    target                          = string
    execution_service_account_email = string
  })
  default = null

  validation {
    condition = var.cloud_deploy == null ? true : alltrue([
      can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.cloud_deploy.pipeline)),
      can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.cloud_deploy.target)),
    ])
    error_message = "cloud_deploy.pipeline and cloud_deploy.target must be Cloud Deploy ids: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "runtime_service_account_email" {
  description = "The Cloud Run service's runtime service account. Cloud Run checks iam.serviceAccounts.actAs on it for every service update, traffic-only updates included, so lastgood is granted Service Account User on this one account. Required for a plain Cloud Run target."
  type        = string
  default     = null
}

variable "lastgood_service_account_email" {
  description = "lastgood's service account (output service_account_email of the lastgood module)."
  type        = string
}

variable "lastgood_run_role" {
  description = "Role granted to lastgood on the Cloud Run service for a plain Cloud Run target: the lastgood module's rollback_role_id (a custom role with only run.services.get/update and run.revisions.get/list), or roles/run.developer for a service in another project, where that project-level custom role cannot be bound."
  type        = string
  default     = null

  validation {
    condition     = var.lastgood_run_role == null ? true : !contains(["roles/owner", "roles/editor", "roles/run.admin"], var.lastgood_run_role)
    error_message = "lastgood_run_role must not be roles/owner, roles/editor or roles/run.admin: lastgood only reads revisions and moves traffic."
  }
}

variable "lastgood_notification_channel" {
  description = "Full name of lastgood's notification channel (output notification_channel_id of the lastgood module). Only burn-rate windows with triggers_rollback notify it."
  type        = string
}

variable "paging_notification_channels" {
  description = "Notification channels (full names) that page people. Windows with pages = true notify them."
  type        = list(string)
  default     = []
}

variable "slo_goal" {
  description = "Availability SLO goal: the fraction of requests that must not answer 5xx. Use the same value as sloGoal in lastgood's policy file, which converts the alert's burn rate back into an error rate."
  type        = number
  default     = 0.999

  validation {
    condition     = var.slo_goal > 0 && var.slo_goal < 1
    error_message = "slo_goal must be strictly between 0 and 1, e.g. 0.999."
  }
}

variable "slo_rolling_period_days" {
  description = "Rolling window of the SLO in days. The burn-rate windows below are the Google SRE workbook's values for a 30-day window."
  type        = number
  default     = 30

  validation {
    condition     = var.slo_rolling_period_days >= 1 && var.slo_rolling_period_days <= 30 && floor(var.slo_rolling_period_days) == var.slo_rolling_period_days
    error_message = "slo_rolling_period_days must be a whole number of days from 1 to 30."
  }
}

variable "burn_rate_windows" {
  description = "Multiwindow burn-rate alert policies, one per entry: it fires when the burn rate exceeds burn_rate over both long_window and short_window (durations in seconds, e.g. \"3600s\"). triggers_rollback sends it to lastgood; pages sends it to paging_notification_channels. The defaults are the Google SRE workbook's: 14.4x over 1h and 5m (2% of a 30-day budget) pages and rolls back, 6x over 6h and 30m (5%) only pages."
  type = map(object({
    long_window       = string
    short_window      = string
    burn_rate         = number
    triggers_rollback = bool
    pages             = optional(bool, true)
  }))
  default = {
    fast = {
      long_window       = "3600s"
      short_window      = "300s"
      burn_rate         = 14.4
      triggers_rollback = true
    }
    slow = {
      long_window       = "21600s"
      short_window      = "1800s"
      burn_rate         = 6
      triggers_rollback = false
    }
  }

  validation {
    # Keys become the burn_rate_window label value, so they follow the label rules.
    condition     = alltrue([for name in keys(var.burn_rate_windows) : can(regex("^[a-z][a-z0-9_-]{0,62}$", name))])
    error_message = "burn_rate_windows keys must be lowercase letters, digits, _ or -, starting with a letter."
  }

  validation {
    condition = alltrue([
      for window in values(var.burn_rate_windows) :
      can(regex("^[1-9][0-9]*s$", window.long_window)) && can(regex("^[1-9][0-9]*s$", window.short_window))
    ])
    error_message = "long_window and short_window must be whole seconds such as \"3600s\"."
  }

  validation {
    condition = alltrue([
      for window in values(var.burn_rate_windows) :
      try(tonumber(trimsuffix(window.short_window, "s")) < tonumber(trimsuffix(window.long_window, "s")), false)
    ])
    error_message = "Each short_window must be shorter than its long_window."
  }

  validation {
    condition     = alltrue([for window in values(var.burn_rate_windows) : window.burn_rate > 1])
    error_message = "burn_rate must be above 1: a burn rate of 1 or less meets the SLO."
  }

  validation {
    condition     = alltrue([for window in values(var.burn_rate_windows) : window.triggers_rollback || window.pages])
    error_message = "Each window must trigger a rollback, page, or both; otherwise its alert notifies no one."
  }
}

variable "runbook_base_url" {
  description = "Base URL of lastgood's runbooks/ folder (e.g. https://github.com/ORG/lastgood/blob/main/runbooks); alert documentation links to rollback-fired.md under it."
  type        = string

  validation {
    condition     = can(regex("^https://", var.runbook_base_url))
    error_message = "runbook_base_url must be an https:// URL."
  }
}

variable "lastgood_project_id" {
  description = "Project lastgood runs in, whose log the dashboard's lastgood panel shows. Defaults to monitoring_project_id."
  type        = string
  default     = null
}
