locals {
  monitoring_project_id = coalesce(var.monitoring_project_id, var.project_id)
  is_cloud_deploy       = var.cloud_deploy != null
  lastgood_member       = "serviceAccount:${var.lastgood_service_account_email}"

  # Every request the service answered; 5xx answers are the bad ones.
  request_count_filter = join(" AND ", [
    "metric.type=\"run.googleapis.com/request_count\"",
    "resource.type=\"cloud_run_revision\"",
    "resource.label.\"project_id\"=\"${var.project_id}\"",
    "resource.label.\"location\"=\"${var.region}\"",
    "resource.label.\"service_name\"=\"${var.service_name}\"",
  ])

  # lastgood routes an alert by this policy user label (it arrives as policy_user_labels).
  rollback_labels = { lastgood_target = var.target_name }
  runbook_url     = "${trimsuffix(var.runbook_base_url, "/")}/rollback-fired.md"
  rollback_means = (
    local.is_cloud_deploy
    ? "rolls Cloud Deploy target `${var.cloud_deploy.target}` of pipeline `${var.cloud_deploy.pipeline}` back to its previous release"
    : "moves the traffic of Cloud Run service `${var.service_name}` back to its last known good revision"
  )
}

resource "google_monitoring_custom_service" "target" {
  project      = local.monitoring_project_id
  service_id   = "lastgood-${replace(var.target_name, "_", "-")}"
  display_name = "${var.target_name} (protected by lastgood)"

  telemetry {
    resource_name = "//run.googleapis.com/projects/${var.project_id}/locations/${var.region}/services/${var.service_name}"
  }

  user_labels = local.rollback_labels
}

resource "google_monitoring_slo" "availability" {
  project             = local.monitoring_project_id
  service             = google_monitoring_custom_service.target.service_id
  slo_id              = "availability"
  display_name        = "${var.target_name}: ${var.slo_goal} of requests without 5xx over ${var.slo_rolling_period_days} days"
  goal                = var.slo_goal
  rolling_period_days = var.slo_rolling_period_days

  request_based_sli {
    good_total_ratio {
      total_service_filter = local.request_count_filter
      bad_service_filter   = "${local.request_count_filter} AND metric.label.\"response_code_class\"=\"5xx\""
    }
  }
}

# One policy per window, as in the SRE workbook: it opens only while both the long window (is the budget really
# burning?) and the short window (is it still burning now?) are over the threshold, so it also closes soon after
# a rollback.
resource "google_monitoring_alert_policy" "burn_rate" {
  for_each = var.burn_rate_windows

  project      = local.monitoring_project_id
  display_name = "${var.target_name}: SLO burn rate above ${each.value.burn_rate}x over ${each.value.long_window} and ${each.value.short_window}"
  combiner     = "AND"
  enabled      = true

  conditions {
    display_name = "Burn rate above ${each.value.burn_rate}x over ${each.value.long_window}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.availability.name}\", \"${each.value.long_window}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.burn_rate
      duration        = "0s"
    }
  }

  conditions {
    display_name = "Burn rate above ${each.value.burn_rate}x over ${each.value.short_window}"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.availability.name}\", \"${each.value.short_window}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.burn_rate
      duration        = "0s"
    }
  }

  notification_channels = concat(
    each.value.triggers_rollback ? [var.lastgood_notification_channel] : [],
    each.value.pages ? var.paging_notification_channels : [],
  )

  user_labels = merge(
    { burn_rate_window = each.key },
    each.value.triggers_rollback ? local.rollback_labels : {},
  )

  documentation {
    mime_type = "text/markdown"
    content = join("\n\n", [
      "`${var.target_name}` is burning its availability error budget (SLO ${var.slo_goal} over ${var.slo_rolling_period_days} days) at more than ${each.value.burn_rate}x over both ${each.value.long_window} and ${each.value.short_window}.",
      each.value.triggers_rollback
      ? "lastgood received this alert and, if its policy for `${var.target_name}` allows, ${local.rollback_means}. `GET /rollback/recent` on lastgood shows the decision and why."
      : "lastgood does not act on this window: it only pages. Roll back by hand if the release is bad.",
      "Runbook: ${local.runbook_url}",
    ])
  }
}

resource "google_cloud_run_v2_service_iam_member" "lastgood_rollback" {
  count = local.is_cloud_deploy ? 0 : 1

  project  = var.project_id
  location = var.region
  name     = var.service_name
  role     = var.lastgood_run_role
  member   = local.lastgood_member

  lifecycle {
    precondition {
      condition     = var.lastgood_run_role != null
      error_message = "A plain Cloud Run target needs lastgood_run_role (the lastgood module's rollback_role_id)."
    }
  }
}

resource "google_service_account_iam_member" "lastgood_acts_as_runtime" {
  count = local.is_cloud_deploy ? 0 : 1

  # "-" lets IAM find the account's project from its email.
  service_account_id = "projects/-/serviceAccounts/${var.runtime_service_account_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.lastgood_member

  lifecycle {
    precondition {
      condition     = var.runtime_service_account_email != null
      error_message = "A plain Cloud Run target needs runtime_service_account_email: Cloud Run checks actAs on it when lastgood moves traffic."
    }
  }
}

resource "google_clouddeploy_delivery_pipeline_iam_member" "lastgood_operator" {
  count = local.is_cloud_deploy ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = var.cloud_deploy.pipeline
  role     = "roles/clouddeploy.operator"
  member   = local.lastgood_member
}

# Cloud Deploy authorizes a rollout against its target as well as its pipeline (target IAM policies are how
# promotion to one target is restricted), so the grant covers this one target too.
resource "google_clouddeploy_target_iam_member" "lastgood_operator" {
  count = local.is_cloud_deploy ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = var.cloud_deploy.target
  role     = "roles/clouddeploy.operator"
  member   = local.lastgood_member
}

resource "google_service_account_iam_member" "lastgood_acts_as_deployer" {
  count = local.is_cloud_deploy ? 1 : 0

  service_account_id = "projects/-/serviceAccounts/${var.cloud_deploy.execution_service_account_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.lastgood_member
}
