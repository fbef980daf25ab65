resource "google_clouddeploy_target" "stage" {
  for_each = { for stage in var.stages : stage.target_id => stage }

  project          = var.project_id
  location         = var.region
  name             = each.key
  description      = "Cloud Run in ${var.region}, stage ${each.key} of ${var.pipeline_name}."
  require_approval = each.value.require_approval
  labels           = var.labels

  run {
    location = "projects/${var.project_id}/locations/${var.region}"
  }

  dynamic "execution_configs" {
    for_each = var.execution_service_account_email == null ? [] : [var.execution_service_account_email]
    content {
      usages          = ["RENDER", "DEPLOY", "VERIFY"]
      service_account = execution_configs.value
    }
  }
}

resource "google_clouddeploy_delivery_pipeline" "pipeline" {
  project     = var.project_id
  location    = var.region
  name        = var.pipeline_name
  description = var.description
  labels      = var.labels

  serial_pipeline {
    dynamic "stages" {
      for_each = var.stages
      content {
        target_id = stages.value.target_id
        profiles  = stages.value.profiles

        dynamic "strategy" {
          for_each = stages.value.canary ? [stages.value.target_id] : []
          content {
            canary {
              runtime_config {
                cloud_run {
                  # Cloud Deploy sets the traffic split itself for each phase.
                  automatic_traffic_control = true
                }
              }
              canary_deployment {
                percentages = var.canary_percentages
                verify      = var.canary_verify
              }
            }
          }
        }
      }
    }
  }

  depends_on = [google_clouddeploy_target.stage]
}
