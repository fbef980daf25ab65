output "service_uri" {
  description = "HTTPS URL of lastgood's Cloud Run service (operator API: /rollback/recent, /rollback/status/:id, ...)."
  value       = google_cloud_run_v2_service.lastgood.uri
}

output "webhook_url" {
  description = "The webhook URL Cloud Monitoring calls, without the token."
  value       = local.webhook_url
}

output "service_account_email" {
  description = "lastgood's service account; pass it to each protected-service module."
  value       = google_service_account.lastgood.email
}

output "rollback_role_id" {
  description = "The custom rollback role (projects/P/roles/ID); pass it as lastgood_run_role for Cloud Run targets in this project."
  value       = google_project_iam_custom_role.rollback.name
}

output "notification_channel_id" {
  description = "Full name of the notification channel that delivers alerts to lastgood; pass it to each protected-service module."
  value       = google_monitoring_notification_channel.lastgood.name
}

output "webhook_token_secret_id" {
  description = "The Secret Manager secret holding the webhook tokens (projects/P/secrets/S), as set in LASTGOOD_WEBHOOK_TOKEN_SECRET."
  value       = google_secret_manager_secret.webhook_token.id
}

output "policy_secret_id" {
  description = "The Secret Manager secret holding the policy file mounted at LASTGOOD_CONFIG."
  value       = google_secret_manager_secret.policy.id
}

output "dashboard_id" {
  description = "The Cloud Monitoring dashboard of lastgood itself (projects/P/dashboards/ID)."
  value       = google_monitoring_dashboard.lastgood.id
}

output "uptime_check_id" {
  description = "The uptime check on lastgood's /healthz."
  value       = google_monitoring_uptime_check_config.healthz.uptime_check_id
}

output "alert_policy_names" {
  description = "Full names of lastgood's own alert policies, keyed by what they watch."
  value = merge(
    { for key, policy in google_monitoring_alert_policy.promql : key => policy.name },
    {
      rollback_skipped_deploy_in_progress = google_monitoring_alert_policy.rollback_skipped_deploy_in_progress.name
      lastgood_down                       = google_monitoring_alert_policy.lastgood_down.name
    },
  )
}
