variable "project_id" {
  description = "Project that runs lastgood: its Cloud Run service, service account, secrets, custom roles and notification channel."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region of lastgood's Cloud Run service."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "name" {
  description = "Name of the Cloud Run service; also the service account id and the prefix of the secrets and custom roles."
  type        = string
  default     = "lastgood"

  validation {
    # Service account ids are the strictest of the names derived from it: 6-30 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.name))
    error_message = "name must be 6-30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "image" {
  description = "lastgood container image, pinned by tag or digest (e.g. us-docker.pkg.dev/PROJECT/lastgood/lastgood@sha256:...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[^ ]+$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must be a registry path pinned by tag or digest, not :latest (a restart would silently change the version)."
  }
}

variable "policy_yaml" {
  description = "lastgood's policy file (see examples/lastgood.yaml): defaults and one entry per protected target. Stored in Secret Manager and mounted as the file LASTGOOD_CONFIG points at; a change rolls out a new revision."
  type        = string

  validation {
    condition     = can(yamldecode(var.policy_yaml).targets)
    error_message = "policy_yaml must be YAML with a targets map."
  }

  validation {
    condition     = alltrue([for target in keys(try(yamldecode(var.policy_yaml).targets, {})) : can(regex("^[a-z][a-z0-9_-]{0,62}$", target))])
    error_message = "Target names in policy_yaml must be lowercase letters, digits, _ or -, starting with a letter (they become alert policy label values)."
  }
}

variable "operator_tokens" {
  description = "LASTGOOD_OPERATOR_TOKENS entries, name:role:sha256hex. These are hashes, not secrets (`printf %s \"$TOKEN\" | sha256sum`). At least one: in production lastgood refuses to start when no person could acknowledge, roll back or unfreeze."
  type        = list(string)

  validation {
    condition     = length(var.operator_tokens) > 0
    error_message = "operator_tokens needs at least one entry; lastgood refuses to start in production without one."
  }

  validation {
    condition     = alltrue([for entry in var.operator_tokens : can(regex("^[A-Za-z0-9_.@-]{1,64}:(viewer|operator|admin):[0-9a-f]{64}$", entry))])
    error_message = "Each operator token must be name:role:sha256hex with role viewer, operator or admin."
  }
}

variable "enabled" {
  description = "LASTGOOD_ENABLED, the global kill switch: false makes lastgood record every decision as DISABLED and never roll back."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "LOG_LEVEL for lastgood's pino logger."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["fatal", "error", "warn", "info", "debug", "trace", "silent"], var.log_level)
    error_message = "log_level must be one of fatal, error, warn, info, debug, trace, silent."
  }
}

variable "min_instances" {
  description = "Minimum instances. At least 1: a rollback runs after the webhook has answered, so an instance must stay up with its CPU allocated."
  type        = number
  default     = 1

  validation {
    condition     = var.min_instances >= 1
    error_message = "min_instances must be at least 1, or background rollbacks stall when Cloud Run scales to zero."
  }
}

variable "max_instances" {
  description = "Maximum instances. Keep 1 without database_url_secret: each instance would have its own SQLite file, so rate limits and cooldowns would not be shared."
  type        = number
  default     = 1

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number, at least 1."
  }
}

variable "cpu" {
  description = "CPU limit of the container."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit of the container."
  type        = string
  default     = "512Mi"
}

variable "webhook_token_rotation" {
  description = "Change this value (e.g. to today's date) to rotate the webhook token: a new random token becomes a new Secret Manager version and the notification channel switches to it in the same apply. The previous version stays enabled, so lastgood accepts both during the switch."
  type        = string
  default     = "initial"

  validation {
    condition     = length(var.webhook_token_rotation) > 0
    error_message = "webhook_token_rotation must not be empty."
  }
}

variable "notification_channel_auth" {
  description = "How Cloud Monitoring authenticates to the webhook: \"token\" (a webhook_tokenauth channel, token in the URL query ?auth_token=) or \"basic\" (a webhook_basicauth channel, token as the HTTP Basic password). Query strings appear in Cloud Run request logs, so \"basic\" keeps the token out of logs."
  type        = string
  default     = "token"

  validation {
    condition     = contains(["token", "basic"], var.notification_channel_auth)
    error_message = "notification_channel_auth must be \"token\" or \"basic\"."
  }
}

variable "database_url_secret" {
  description = "Optional Secret Manager secret (projects/P/secrets/S) whose latest version holds DATABASE_URL (postgres://...), for the PostgreSQL store. Null keeps the SQLite store, which lives on the instance and is lost when it is replaced."
  type        = string
  default     = null

  validation {
    condition     = var.database_url_secret == null ? true : can(regex("^projects/[^/]+/secrets/[^/]+$", var.database_url_secret))
    error_message = "database_url_secret must look like projects/PROJECT/secrets/SECRET."
  }
}

variable "cloud_sql_instance" {
  description = "Optional Cloud SQL instance connection name (PROJECT:REGION:INSTANCE). Mounts its Unix socket under /cloudsql, so DATABASE_URL can use host=/cloudsql/PROJECT:REGION:INSTANCE, and lets lastgood connect to that instance only."
  type        = string
  default     = null

  validation {
    condition     = var.cloud_sql_instance == null ? true : can(regex("^[a-z][a-z0-9-]+:[a-z]+-[a-z]+[0-9]:[a-z][a-z0-9-]*$", var.cloud_sql_instance))
    error_message = "cloud_sql_instance must be a connection name, PROJECT:REGION:INSTANCE."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy lastgood's Cloud Run service until this is set to false."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to lastgood's Cloud Run service and secrets."
  type        = map(string)
  default     = {}
}

variable "runbook_base_url" {
  description = "Base URL of lastgood's runbooks/ folder (e.g. https://github.com/ORG/lastgood/blob/main/runbooks); each self-alert's documentation links its page under it."
  type        = string

  validation {
    condition     = can(regex("^https://", var.runbook_base_url))
    error_message = "runbook_base_url must be an https:// URL."
  }
}

variable "alert_notification_channels" {
  description = "Notification channels (full names) for lastgood's own alerts: a rollback failed, did not heal or was skipped for a deploy in progress, lastgood down, notifications not delivered. Empty: the policies still open incidents, but notify no one."
  type        = list(string)
  default     = []
}

variable "metrics_collector_image" {
  description = "Google's Managed Service for Prometheus collector for Cloud Run, run as a sidecar that exports lastgood's /metrics to Cloud Monitoring."
  type        = string
  default     = "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0"
}
