# A dashboard per protected service: is the SLO met, how fast is the budget burning over the policy's windows,
# which revision fails, and when did lastgood act. docs/operations.md lists what this file creates.

locals {
  lastgood_project_id = coalesce(var.lastgood_project_id, local.monitoring_project_id)

  # lastgood's series for this target; they are in Cloud Monitoring through lastgood's metrics sidecar.
  target_selector = "target=\"${var.target_name}\""

  # Requests per revision and response code class: the evidence lastgood reads before it acts.
  per_revision_aggregation = {
    alignmentPeriod    = "60s"
    perSeriesAligner   = "ALIGN_DELTA"
    crossSeriesReducer = "REDUCE_SUM"
    groupByFields      = ["resource.label.\"revision_name\""]
  }

  slo_widgets = [
    {
      title = "SLO compliance (${var.slo_goal} over ${var.slo_rolling_period_days} days)"
      scorecard = {
        timeSeriesQuery = { timeSeriesFilter = { filter = "select_slo_compliance(\"${google_monitoring_slo.availability.name}\")" } }
        thresholds      = [{ value = var.slo_goal, color = "RED", direction = "BELOW" }]
      }
    },
    {
      title = "Error budget remaining"
      scorecard = {
        timeSeriesQuery = { timeSeriesFilter = { filter = "select_slo_budget_fraction(\"${google_monitoring_slo.availability.name}\")" } }
      }
    },
  ]

  # One chart per burn-rate window: its long and short window, and the burn rate its alert fires above.
  burn_rate_widgets = [
    for name, window in var.burn_rate_windows : {
      title = "Burn rate, ${name} window (alert above ${window.burn_rate}x over ${window.long_window} and ${window.short_window})"
      xyChart = {
        dataSets = [
          for lookback in [window.long_window, window.short_window] : {
            plotType        = "LINE"
            legendTemplate  = lookback
            timeSeriesQuery = { timeSeriesFilter = { filter = "select_slo_burn_rate(\"${google_monitoring_slo.availability.name}\", \"${lookback}\")" } }
          }
        ]
        thresholds = [{ value = window.burn_rate, color = "RED", direction = "ABOVE" }]
      }
    }
  ]

  revision_widgets = [
    {
      title = "Error ratio (5xx) per revision"
      xyChart = {
        dataSets = [
          {
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilterRatio = {
                numerator   = { filter = "${local.request_count_filter} AND metric.label.\"response_code_class\"=\"5xx\"", aggregation = local.per_revision_aggregation }
                denominator = { filter = local.request_count_filter, aggregation = local.per_revision_aggregation }
              }
            }
          },
        ]
      }
    },
    {
      title = "Requests per revision and response code class"
      xyChart = {
        dataSets = [
          {
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = local.request_count_filter
                aggregation = merge(local.per_revision_aggregation, {
                  groupByFields = ["resource.label.\"revision_name\"", "metric.label.\"response_code_class\""]
                })
              }
            }
          },
        ]
      }
    },
    {
      title = "lastgood's decisions and rollbacks for ${var.target_name}"
      xyChart = {
        dataSets = [
          {
            plotType        = "STACKED_BAR"
            timeSeriesQuery = { prometheusQuery = "sum by (reason) (increase(lastgood_decisions_total{${local.target_selector}}[5m]))" }
          },
          {
            plotType        = "STACKED_BAR"
            timeSeriesQuery = { prometheusQuery = "sum by (result) (increase(lastgood_rollbacks_total{${local.target_selector}}[5m]))" }
          },
        ]
      }
    },
    {
      title = "lastgood's log for ${var.target_name}"
      logsPanel = {
        filter        = "resource.type=\"cloud_run_revision\" AND labels.target=\"${var.target_name}\""
        resourceNames = ["projects/${local.lastgood_project_id}"]
      }
    },
  ]
}

resource "google_monitoring_dashboard" "target" {
  project = local.monitoring_project_id
  dashboard_json = jsonencode({
    displayName = "${var.target_name}: SLO, burn rate and rollbacks (lastgood)"
    mosaicLayout = {
      columns = 48
      tiles = [
        for index, widget in concat(local.slo_widgets, local.burn_rate_widgets, local.revision_widgets) : {
          xPos   = (index % 2) * 24
          yPos   = floor(index / 2) * 16
          width  = 24
          height = 16
          widget = widget
        }
      ]
    }
  })
}
