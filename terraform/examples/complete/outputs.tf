output "lastgood_url" {
  description = "lastgood's service URL, for its operator API."
  value       = module.lastgood.service_uri
}

output "lastgood_webhook_url" {
  description = "The webhook Cloud Monitoring calls (without the token)."
  value       = module.lastgood.webhook_url
}

output "storefront_slo" {
  description = "Full name of storefront's availability SLO."
  value       = module.storefront_protection.slo_name
}

output "storefront_alert_policies" {
  description = "storefront's burn-rate alert policies by window; the ones in rollback_windows notify lastgood."
  value       = module.storefront_protection.alert_policy_names
}

output "rollback_windows" {
  description = "Burn-rate windows whose alerts trigger a lastgood rollback."
  value       = module.storefront_protection.rollback_windows
}

output "pipeline" {
  description = "The Cloud Deploy pipeline releasing storefront."
  value       = module.storefront_pipeline.pipeline_id
}
