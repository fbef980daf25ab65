output "pipeline_name" {
  description = "Delivery pipeline id: the pipeline of the target in lastgood's policy file and in the protected-service module's cloud_deploy."
  value       = google_clouddeploy_delivery_pipeline.pipeline.name
}

output "pipeline_id" {
  description = "Full resource name of the delivery pipeline (projects/P/locations/R/deliveryPipelines/NAME)."
  value       = google_clouddeploy_delivery_pipeline.pipeline.id
}

output "target_ids" {
  description = "Target ids in promotion order."
  value       = [for stage in var.stages : google_clouddeploy_target.stage[stage.target_id].name]
}

output "canary_target_ids" {
  description = "Target ids rolled out as canaries; usually the one lastgood protects."
  value       = [for stage in var.stages : stage.target_id if stage.canary]
}
