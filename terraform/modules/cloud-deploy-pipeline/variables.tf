variable "project_id" {
  description = "Project of the delivery pipeline, its targets and the Cloud Run services they deploy."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region of the pipeline and of the Cloud Run services its targets deploy to."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "pipeline_name" {
  description = "Delivery pipeline id; lastgood's policy file names it as the target's pipeline."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.pipeline_name))
    error_message = "pipeline_name must be lowercase letters, digits and hyphens, starting with a letter, at most 63 characters."
  }
}

variable "description" {
  description = "Description of the delivery pipeline."
  type        = string
  default     = "Cloud Run releases, canary in production; lastgood rolls back on SLO burn."
}

variable "stages" {
  description = "Stages in promotion order, one Cloud Run target each. canary = true rolls that stage out in canary_percentages steps; profiles are the Skaffold profiles that render the stage's service (give each stage its own service name if they share a region)."
  type = list(object({
    target_id        = string
    profiles         = optional(list(string), [])
    require_approval = optional(bool, false)
    canary           = optional(bool, false)
  }))
  default = [
    { target_id = "staging", profiles = ["staging"] },
    { target_id = "production", profiles = ["production"], canary = true },
  ]

  validation {
    condition     = length(var.stages) > 0 && alltrue([for stage in var.stages : can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", stage.target_id))])
    error_message = "stages must not be empty and each target_id must be lowercase letters, digits and hyphens, starting with a letter."
  }

  validation {
    condition     = length(distinct([for stage in var.stages : stage.target_id])) == length(var.stages)
    error_message = "Each stage needs its own target_id."
  }
}

variable "canary_percentages" {
  description = "Traffic percentages of the canary phases, ascending. Cloud Deploy always ends with the 100% stable phase, so the default [25, 50] gives 25 -> 50 -> 100."
  type        = list(number)
  default     = [25, 50]

  validation {
    condition = length(var.canary_percentages) > 0 && alltrue([
      for index, percent in var.canary_percentages :
      percent > 0 && percent < 100 && floor(percent) == percent && (index == 0 || percent > try(var.canary_percentages[index - 1], 0))
    ])
    error_message = "canary_percentages must be ascending whole numbers between 1 and 99; the 100% phase is implicit."
  }
}

variable "canary_verify" {
  description = "Run the Skaffold verify container after each canary phase (the skaffold.yaml needs a verify stanza)."
  type        = bool
  default     = true
}

variable "execution_service_account_email" {
  description = "Service account Cloud Deploy renders and deploys with (needs roles/clouddeploy.jobRunner, run.developer on the services and actAs on their runtime accounts). Null uses the project's default compute account."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels added to the pipeline and targets."
  type        = map(string)
  default     = {}
}
