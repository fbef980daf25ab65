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
