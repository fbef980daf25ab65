provider "google" {
  project = var.project_id
  region  = var.region
}

# One service, storefront: released through a Cloud Deploy canary pipeline, measured by an availability SLO, and
# rolled back by lastgood when the SLO's fast burn-rate alert fires.
locals {
  service_name      = "storefront"
  target_name       = "storefront"
  pipeline_name     = "storefront-pipeline"
  production_target = "production"
  slo_goal          = 0.999

  # Values rendered into lastgood.yaml, so the policy file and the modules cannot disagree on them.
  policy_vars = {
    project_id = var.project_id
    region     = var.region
    pipeline   = local.pipeline_name
    target     = local.production_target
    slo_goal   = local.slo_goal
  }
}

resource "google_service_account" "storefront" {
  account_id   = "storefront-run"
  display_name = "storefront runtime"
}

resource "google_service_account" "deployer" {
  account_id   = "storefront-deployer"
  display_name = "Cloud Deploy execution for storefront-pipeline"
}

resource "google_project_iam_member" "deployer" {
  for_each = toset(["roles/clouddeploy.jobRunner", "roles/run.developer"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_service_account_iam_member" "deployer_acts_as_storefront" {
  service_account_id = google_service_account.storefront.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}

# Terraform creates the service once, so its identity and IAM exist before the first release; from then on
# Cloud Deploy owns its revisions and lastgood moves its traffic.
resource "google_cloud_run_v2_service" "storefront" {
  name     = local.service_name
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.storefront.email
    containers {
      image = var.storefront_bootstrap_image
    }
  }

  lifecycle {
    # Without this the next apply would put traffic back where Terraform last left it, undoing a rollback, and
    # would replace the released template with the bootstrap one.
    ignore_changes = [traffic, template, client, client_version]
  }
}

module "lastgood" {
  source = "../../modules/lastgood"

  project_id      = var.project_id
  region          = var.region
  image           = var.lastgood_image
  policy_yaml     = templatefile("${path.module}/lastgood.yaml", local.policy_vars)
  operator_tokens = var.lastgood_operator_tokens

  runbook_base_url            = var.runbook_base_url
  alert_notification_channels = var.paging_notification_channels
}

module "storefront_pipeline" {
  source = "../../modules/cloud-deploy-pipeline"

  project_id                      = var.project_id
  region                          = var.region
  pipeline_name                   = local.pipeline_name
  execution_service_account_email = google_service_account.deployer.email
  stages = [
    { target_id = "staging", profiles = ["staging"] },
    { target_id = local.production_target, profiles = ["production"], canary = true },
  ]
}

module "storefront_protection" {
  source = "../../modules/protected-service"

  target_name  = local.target_name
  project_id   = var.project_id
  region       = var.region
  service_name = google_cloud_run_v2_service.storefront.name
  slo_goal     = local.slo_goal

  cloud_deploy = {
    pipeline                        = module.storefront_pipeline.pipeline_name
    target                          = local.production_target
    execution_service_account_email = google_service_account.deployer.email
  }

  lastgood_service_account_email = module.lastgood.service_account_email
  lastgood_notification_channel  = module.lastgood.notification_channel_id
  paging_notification_channels   = var.paging_notification_channels
  runbook_base_url               = var.runbook_base_url
}
