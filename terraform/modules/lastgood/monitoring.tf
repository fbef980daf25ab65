# How lastgood is seen in Cloud Monitoring: its Prometheus counters exported by the Managed Service for Prometheus
# sidecar, a dashboard, an uptime check on /healthz, and alert policies on lastgood's own trouble.
# docs/operations.md lists what this file creates and why the sidecar.

locals {
  lastgood_container = "lastgood"

  # The collector cannot send a token, so lastgood serves /metrics without one on this port, on 127.0.0.1 only:
  # Cloud Run routes no outside request to it.
  metrics_local_port = "9464"
  metrics_path       = "/metrics"

  # Where the collector reads its RunMonitoring config.
  run_monitoring_dir  = "/etc/rungmp"
  run_monitoring_file = "config.yaml"
  run_monitoring = {
    apiVersion = "monitoring.googleapis.com/v1beta"
    kind       = "RunMonitoring"
    metadata = {
      name = var.name
    }
    spec = {
      endpoints = [
        {
          port     = local.metrics_local_port
          path     = local.metrics_path
          interval = "30s"
        },
      ]
      # instance adds instanceId and makes the instance label <instance id>:<port>, so each instance is a series.
      targetLabels = {
        metadata = ["instance", "revision", "service"]
      }
    }
  }

  # The collector sets namespace to the Cloud Run service's name: this selects this lastgood's series only.
  promql_selector = "namespace=\"${var.name}\""
  runbook_base    = trimsuffix(var.runbook_base_url, "/")

  # lastgood's own log lines in Cloud Logging.
  log_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.project_id=\"${var.project_id}\" AND resource.labels.service_name=\"${var.name}\""

  # The targets lastgood protects, and so the projects whose Cloud Monitoring it reads evidence from.
  protected_projects = toset([for target in values(yamldecode(var.policy_yaml).targets) : target.project])

  # lastgood's own series, one chart per question: its title, how it is drawn, and its PromQL queries.
  promql_charts = [
    {
      title   = "Decisions by reason"
      plot    = "STACKED_BAR"
      queries = ["sum by (reason) (increase(lastgood_decisions_total{${local.promql_selector}}[5m]))"]
    },
    {
      title   = "Rollbacks by result"
      plot    = "STACKED_BAR"
      queries = ["sum by (result) (increase(lastgood_rollbacks_total{${local.promql_selector}}[5m]))"]
    },
    {
      title = "Time to rollback, alert to traffic restored (p50, p95)"
      plot  = "LINE"
      queries = [
        "histogram_quantile(0.5, sum by (le) (rate(lastgood_time_to_rollback_seconds_bucket{${local.promql_selector}}[1h])))",
        "histogram_quantile(0.95, sum by (le) (rate(lastgood_time_to_rollback_seconds_bucket{${local.promql_selector}}[1h])))",
      ]
    },
    {
      title   = "Holds: rollbacks the judgement stood aside from, by target"
      plot    = "STACKED_BAR"
      queries = ["sum by (target) (increase(lastgood_rollbacks_total{${local.promql_selector},result=\"held\"}[1h]))"]
    },
    {
      title   = "Rollbacks that did not heal the service"
      plot    = "STACKED_BAR"
      queries = ["sum(increase(lastgood_rollbacks_not_healed_total{${local.promql_selector}}[1h]))"]
    },
    {
      title   = "Google API errors by method and code"
      plot    = "STACKED_BAR"
      queries = ["sum by (method, code) (increase(lastgood_google_api_errors_total{${local.promql_selector}}[5m]))"]
    },
    {
      title   = "Rollback job queue depth"
      plot    = "LINE"
      queries = ["max(lastgood_job_queue_depth{${local.promql_selector}})"]
    },
    {
      title   = "Outbox backlog: notifications not delivered"
      plot    = "LINE"
      queries = ["max(lastgood_outbox_backlog{${local.promql_selector}})"]
    },
    {
      title   = "Instances reporting metrics (one series per instance label)"
      plot    = "LINE"
      queries = ["count(count by (instance) (lastgood_job_queue_depth{${local.promql_selector}}))"]
    },
  ]

  # Cloud Run's own metrics of lastgood's service: one chart per question, its aligners, reducer and grouping.
  run_charts = [
    {
      title    = "Instances running, by state (Cloud Run)"
      metric   = "run.googleapis.com/container/instance_count"
      aligners = ["ALIGN_MAX"]
      reducer  = "REDUCE_SUM"
      group_by = ["metric.label.\"state\""]
    },
    {
      title    = "Request latency (p50, p99)"
      metric   = "run.googleapis.com/request_latencies"
      aligners = ["ALIGN_PERCENTILE_50", "ALIGN_PERCENTILE_99"]
      reducer  = "REDUCE_MAX"
      group_by = []
    },
  ]

  dashboard_widgets = concat(
    [
      for chart in local.promql_charts : {
        title = chart.title
        xyChart = {
          dataSets = [for query in chart.queries : { plotType = chart.plot, timeSeriesQuery = { prometheusQuery = query } }]
        }
      }
    ],
    [
      for chart in local.run_charts : {
        title = chart.title
        xyChart = {
          dataSets = [
            for aligner in chart.aligners : {
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = "metric.type=\"${chart.metric}\" AND resource.type=\"cloud_run_revision\" AND resource.label.\"service_name\"=\"${var.name}\""
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = aligner
                    crossSeriesReducer = chart.reducer
                    groupByFields      = chart.group_by
                  }
                }
              }
            }
          ]
        }
      }
    ],
    [
      {
        title = "lastgood's warnings and errors"
        logsPanel = {
          filter        = "${local.log_filter} AND severity>=WARNING"
          resourceNames = ["projects/${var.project_id}"]
        }
      },
    ],
  )

  # lastgood's own trouble its counters show, one alert policy each: the PromQL condition, how long it must hold,
  # and the runbook the policy links.
  promql_alerts = {
    rollback_failed = {
      display_name = "a rollback failed or found nothing to go back to"
      condition    = "lastgood_rollbacks_total with result failed or no_lkg increased"
      query        = "sum by (target, result) (increase(lastgood_rollbacks_total{${local.promql_selector},result=~\"failed|no_lkg\"}[15m])) > 0"
      duration     = "0s"
      runbook      = "rollback-failed.md"
      explanation  = "A rollback by lastgood ended failed or no_lkg: the bad release may still be serving. Roll back by hand."
    }
    rollback_not_healed = {
      display_name = "a rollback did not heal the service"
      condition    = "lastgood_rollbacks_not_healed_total increased"
      query        = "sum(increase(lastgood_rollbacks_not_healed_total{${local.promql_selector}}[15m])) > 0"
      duration     = "0s"
      runbook      = "rollback-failed.md"
      explanation  = "A rollback succeeded but the incident did not close within the verification window; the target waits for a person."
    }
    outbox_backlog = {
      display_name = "notifications not delivered for 15 minutes"
      condition    = "lastgood_outbox_backlog above 0 for 15 minutes"
      query        = "max(lastgood_outbox_backlog{${local.promql_selector}}) > 0"
      duration     = "900s"
      runbook      = "lastgood-down.md"
      explanation  = "Slack, PagerDuty or webhook notifications are waiting or dead-lettered: people are not being told what lastgood did."
    }
  }
}

resource "google_secret_manager_secret" "run_monitoring" {
  project   = var.project_id
  secret_id = "${var.name}-run-monitoring"
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "run_monitoring" {
  secret      = google_secret_manager_secret.run_monitoring.id
  secret_data = yamlencode(local.run_monitoring)

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "run_monitoring_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.run_monitoring.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.member
}

# The collector writes the scraped series as lastgood's service account.
resource "google_project_iam_member" "metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = local.member
}

# lastgood reads each protected service's per-revision request counts (its evidence) from Cloud Monitoring.
resource "google_project_iam_member" "monitoring_viewer" {
  for_each = local.protected_projects

  project = each.value
  role    = "roles/monitoring.viewer"
  member  = local.member
}

resource "google_monitoring_dashboard" "lastgood" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "lastgood (${var.name})"
    mosaicLayout = {
      columns = 48
      tiles = [
        for index, widget in local.dashboard_widgets : {
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

resource "google_monitoring_uptime_check_config" "healthz" {
  project      = var.project_id
  display_name = "lastgood (${var.name}) ${local.healthz_path}"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path         = local.healthz_path
    port         = 443
    use_ssl      = true
    validate_ssl = true

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = trimprefix(google_cloud_run_v2_service.lastgood.uri, "https://")
    }
  }
}

# Counted from lastgood's own log line: the rollbacks counter has no label for why a rollback was skipped.
resource "google_logging_metric" "skipped_deploy_in_progress" {
  project = var.project_id
  name    = "${var.name}/rollbacks_skipped_deploy_in_progress"
  filter  = "${local.log_filter} AND jsonPayload.message=\"rollback ended skipped\" AND jsonPayload.outcome.errorCode=\"DEPLOY_IN_PROGRESS\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"

    labels {
      key         = "target"
      value_type  = "STRING"
      description = "The lastgood target whose rollback was skipped."
    }
  }

  label_extractors = {
    target = "EXTRACT(labels.target)"
  }
}

resource "google_monitoring_alert_policy" "promql" {
  for_each = local.promql_alerts

  project               = var.project_id
  display_name          = "lastgood (${var.name}): ${each.value.display_name}"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = { lastgood = var.name }

  conditions {
    display_name = each.value.condition
    condition_prometheus_query_language {
      query    = each.value.query
      duration = each.value.duration
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.value.explanation}\n\nRunbook: ${local.runbook_base}/${each.value.runbook}"
  }
}

resource "google_monitoring_alert_policy" "rollback_skipped_deploy_in_progress" {
  project               = var.project_id
  display_name          = "lastgood (${var.name}): a rollback was skipped because a deploy was in progress"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = { lastgood = var.name }

  conditions {
    display_name = "Rollbacks skipped for DEPLOY_IN_PROGRESS"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.skipped_deploy_in_progress.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.target"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A rollout was under way, so lastgood did not roll back: the release it would have removed may still be serving.\n\nRunbook: ${local.runbook_base}/rollback-failed.md"
  }
}

resource "google_monitoring_alert_policy" "lastgood_down" {
  project               = var.project_id
  display_name          = "lastgood (${var.name}) is down: ${local.healthz_path} fails"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = { lastgood = var.name }

  conditions {
    display_name = "Uptime check on ${local.healthz_path} failing"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.healthz.uptime_check_id}\" AND resource.type=\"uptime_url\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "300s"

      aggregations {
        alignment_period     = "1200s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "lastgood is not answering: burn-rate alerts reaching it now are answered by nobody, so automatic rollback is off.\n\nRunbook: ${local.runbook_base}/lastgood-down.md"
  }
}
