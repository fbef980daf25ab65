locals {
  # Routes lastgood registers (webhookRoute, healthzRoute and readyzRoute in src/http/routes/); a contract test
  # reads them from the app and fails when these drift.
  webhook_path = "/webhook/error-budget-alert"
  healthz_path = "/healthz"
  readyz_path  = "/readyz"

  policy_mount_dir = "/etc/lastgood"
  policy_file_name = "policy.yaml"
  cloud_sql_mount  = "/cloudsql"

  member      = "serviceAccount:${google_service_account.lastgood.email}"
  webhook_url = "${google_cloud_run_v2_service.lastgood.uri}${local.webhook_path}"
  role_prefix = replace(var.name, "-", "_")

  # A token-auth channel has no sensitive label for its token: the token is part of the URL. It comes from a
  # sensitive random_password, so plans still show it as (sensitive value).
  token_channel_labels = { url = "${local.webhook_url}?auth_token=${random_password.webhook_token.result}" }
  # Basic auth keeps the token out of the URL, and so out of Cloud Run's request logs.
  basic_channel_labels = { url = local.webhook_url, username = "cloud-monitoring" }

  # What a Cloud Run rollback needs on the one service it rolls back: read it and its revisions, move traffic.
  rollback_permissions = [
    "run.revisions.get",
    "run.revisions.list",
    "run.services.get",
    "run.services.update",
  ]

  container_env = {
    NODE_ENV        = "production"
    LASTGOOD_CONFIG = "${local.policy_mount_dir}/${local.policy_file_name}"
    # lastgood reads the tokens through the Secret Manager API and accepts the two newest enabled versions, which
    # is what lets a rotation overlap.
    LASTGOOD_WEBHOOK_TOKEN_SECRET = google_secret_manager_secret.webhook_token.id
    LASTGOOD_ENABLED              = tostring(var.enabled)
    LOG_LEVEL                     = var.log_level
    # Names request traces in Cloud Logging (logging.googleapis.com/trace); Cloud Run does not set it.
    GOOGLE_CLOUD_PROJECT = var.project_id
    # The token-free /metrics on 127.0.0.1 that the metrics collector sidecar scrapes (monitoring.tf).
    LASTGOOD_METRICS_LOCAL_PORT = local.metrics_local_port
  }
}

resource "google_service_account" "lastgood" {
  project      = var.project_id
  account_id   = var.name
  display_name = "lastgood (${var.name})"
  description  = "Runs lastgood: reads its own secrets and rolls back the services it protects. No project-wide write roles."
}

# The webhook token. Changing webhook_token_rotation draws a new one.
resource "random_password" "webhook_token" {
  length  = 48
  special = false

  keepers = {
    rotation = var.webhook_token_rotation
  }
}

resource "google_secret_manager_secret" "webhook_token" {
  project   = var.project_id
  secret_id = "${var.name}-webhook-token"
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "webhook_token" {
  secret      = google_secret_manager_secret.webhook_token.id
  secret_data = random_password.webhook_token.result
  # A rotation replaces this version; abandoning the old one leaves it enabled, so lastgood keeps accepting the
  # previous token until the next rotation pushes it out of the newest two.
  deletion_policy = "ABANDON"

  lifecycle {
    create_before_destroy = true
  }
}

# Keys the status page's session cookies (/ui); lastgood refuses to start in production without one. Every
# replica reads the same version, so a session opened on one is valid on the others.
resource "random_password" "session_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "session_secret" {
  project   = var.project_id
  secret_id = "${var.name}-session-secret"
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "session_secret" {
  secret      = google_secret_manager_secret.session_secret.id
  secret_data = random_password.session_secret.result
}

resource "google_secret_manager_secret" "policy" {
  project   = var.project_id
  secret_id = "${var.name}-policy"
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "policy" {
  secret      = google_secret_manager_secret.policy.id
  secret_data = var.policy_yaml

  # The old version is deleted only after the new revision (which mounts the new version) is serving.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "webhook_token_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook_token.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

# Listing versions is how lastgood finds the two newest enabled tokens; secretAccessor cannot list.
resource "google_secret_manager_secret_iam_member" "webhook_token_viewer" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook_token.secret_id
  role      = "roles/secretmanager.viewer"
  member    = local.member
}

resource "google_secret_manager_secret_iam_member" "session_secret_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.session_secret.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

resource "google_secret_manager_secret_iam_member" "policy_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.policy.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

resource "google_secret_manager_secret_iam_member" "database_url_accessor" {
  count = var.database_url_secret == null ? 0 : 1

  secret_id = var.database_url_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

# Granted per protected service by the protected-service module, never project-wide.
resource "google_project_iam_custom_role" "rollback" {
  project     = var.project_id
  role_id     = "${local.role_prefix}_rollback"
  title       = "lastgood rollback (${var.name})"
  description = "Read a Cloud Run service and its revisions and move its traffic; bound on each protected service."
  permissions = local.rollback_permissions
}

# Rollbacks follow long-running operations (Cloud Run UpdateService, Cloud Deploy's pipeline freeze), and
# operations can only be granted on the project. Reading them reveals nothing about other services' config.
resource "google_project_iam_custom_role" "operation_reader" {
  project     = var.project_id
  role_id     = "${local.role_prefix}_operation_reader"
  title       = "lastgood operation reader (${var.name})"
  description = "Read Cloud Run and Cloud Deploy long-running operations, to follow a rollback until it is done."
  permissions = ["clouddeploy.operations.get", "run.operations.get"]
}

resource "google_project_iam_member" "operation_reader" {
  project = var.project_id
  role    = google_project_iam_custom_role.operation_reader.name
  member  = local.member
}

resource "google_project_iam_member" "cloud_sql_client" {
  count = var.cloud_sql_instance == null ? 0 : 1

  project = split(":", var.cloud_sql_instance)[0]
  role    = "roles/cloudsql.client"
  member  = local.member

  condition {
    title       = "only-${split(":", var.cloud_sql_instance)[2]}"
    description = "lastgood may connect to its own database instance only."
    expression  = "resource.name == \"projects/${split(":", var.cloud_sql_instance)[0]}/instances/${split(":", var.cloud_sql_instance)[2]}\" && resource.service == \"sqladmin.googleapis.com\""
  }
}

resource "google_cloud_run_v2_service" "lastgood" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    service_account = google_service_account.lastgood.email

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      name  = local.lastgood_container
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # Rollbacks run after the webhook has answered; with CPU only during requests they would freeze.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.container_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = length(var.operator_tokens) == 0 ? [] : [join(",", var.operator_tokens)]
        content {
          name  = "LASTGOOD_OPERATOR_TOKENS"
          value = env.value
        }
      }

      dynamic "env" {
        for_each = [google_secret_manager_secret.session_secret.secret_id]
        content {
          name = "LASTGOOD_SESSION_SECRET"
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      dynamic "env" {
        for_each = var.database_url_secret == null ? [] : [var.database_url_secret]
        content {
          name = "DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      volume_mounts {
        name       = "policy"
        mount_path = local.policy_mount_dir
      }

      dynamic "volume_mounts" {
        for_each = var.cloud_sql_instance == null ? [] : [var.cloud_sql_instance]
        content {
          name       = "cloudsql"
          mount_path = local.cloud_sql_mount
        }
      }

      startup_probe {
        http_get {
          path = local.readyz_path
        }
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 12
      }

      liveness_probe {
        http_get {
          path = local.healthz_path
        }
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
      }
    }

    # Google's Managed Service for Prometheus collector: scrapes lastgood's local /metrics and writes the series
    # to Cloud Monitoring, labelled with the instance (monitoring.tf has its scrape config).
    containers {
      name       = "metrics-collector"
      image      = var.metrics_collector_image
      depends_on = [local.lastgood_container]

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      volume_mounts {
        name       = "run-monitoring"
        mount_path = local.run_monitoring_dir
      }
    }

    volumes {
      name = "policy"
      secret {
        secret = google_secret_manager_secret.policy.secret_id
        items {
          path = local.policy_file_name
          # Pinned, not "latest": lastgood reads its policy once at start, so a policy change must roll out as a
          # new revision, which a new version number in the template does.
          version = google_secret_manager_secret_version.policy.version
        }
      }
    }

    volumes {
      name = "run-monitoring"
      secret {
        secret = google_secret_manager_secret.run_monitoring.secret_id
        items {
          path    = local.run_monitoring_file
          version = google_secret_manager_secret_version.run_monitoring.version
        }
      }
    }

    dynamic "volumes" {
      for_each = var.cloud_sql_instance == null ? [] : [var.cloud_sql_instance]
      content {
        name = "cloudsql"
        cloud_sql_instance {
          instances = [volumes.value]
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.max_instances >= var.min_instances
      error_message = "max_instances must be at least min_instances."
    }
    precondition {
      condition     = var.max_instances == 1 || var.database_url_secret != null
      error_message = "More than one instance needs database_url_secret: SQLite is per instance, so rate limits and cooldowns would not be shared."
    }
    precondition {
      condition     = var.cloud_sql_instance == null || var.database_url_secret != null
      error_message = "cloud_sql_instance only connects the socket; also set database_url_secret to the DATABASE_URL that uses it."
    }
  }

  # The first revision must be able to read its secrets, or it never becomes ready.
  depends_on = [
    google_secret_manager_secret_iam_member.webhook_token_accessor,
    google_secret_manager_secret_iam_member.webhook_token_viewer,
    google_secret_manager_secret_iam_member.policy_accessor,
    google_secret_manager_secret_iam_member.run_monitoring_accessor,
    google_secret_manager_secret_iam_member.session_secret_accessor,
    google_secret_manager_secret_version.session_secret,
    google_secret_manager_secret_iam_member.database_url_accessor,
    google_project_iam_member.cloud_sql_client,
  ]
}

# Cloud Monitoring calls webhooks without a Google identity, so the service must admit unauthenticated requests;
# lastgood itself checks the webhook token on every call.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.lastgood.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_monitoring_notification_channel" "lastgood" {
  project      = var.project_id
  display_name = "lastgood (${var.name})"
  description  = "Sends SLO burn-rate alerts to lastgood, which may roll the target back."
  type         = var.notification_channel_auth == "token" ? "webhook_tokenauth" : "webhook_basicauth"

  labels = var.notification_channel_auth == "token" ? local.token_channel_labels : local.basic_channel_labels

  dynamic "sensitive_labels" {
    for_each = var.notification_channel_auth == "basic" ? ["password"] : []
    content {
      password = random_password.webhook_token.result
    }
  }

  # lastgood must hold the new token before Cloud Monitoring starts sending it.
  depends_on = [google_secret_manager_secret_version.webhook_token]
}
