output "lastgood_target" {
  description = "The lastgood_target label value on the rollback alert policies; must name a target in lastgood's policy file."
  value       = var.target_name
}

output "slo_name" {
  description = "Full resource name of the availability SLO (projects/P/services/S/serviceLevelObjectives/availability), the one the burn-rate filters select."
  value       = google_monitoring_slo.availability.name
}

output "custom_service_name" {
  description = "Full resource name of the Cloud Monitoring custom service that holds the SLO."
  value       = google_monitoring_custom_service.target.name
}

output "alert_policy_names" {
  description = "Full resource names of the burn-rate alert policies, keyed by window name."
  value       = { for window, policy in google_monitoring_alert_policy.burn_rate : window => policy.name }
}

output "rollback_windows" {
  description = "Names of the burn-rate windows whose alerts go to lastgood and can trigger a rollback."
  value       = sort([for window, settings in var.burn_rate_windows : window if settings.triggers_rollback])
}

output "dashboard_id" {
  description = "The target's Cloud Monitoring dashboard: SLO compliance, burn rate per window, error ratio per revision, lastgood's decisions and rollbacks."
  value       = google_monitoring_dashboard.target.id
}
