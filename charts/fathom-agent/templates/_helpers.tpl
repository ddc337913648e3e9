{{/* The chart name, or nameOverride. */}}
{{- define "fathom-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of every resource: release name, plus the chart name unless it is in it. */}}
{{- define "fathom-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the agent's pods; never change after install. */}}
{{- define "fathom-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fathom-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The standard labels of every resource. */}}
{{- define "fathom-agent.labels" -}}
{{ include "fathom-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: fathom
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "fathom-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fathom-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the API token, and its key. */}}
{{- define "fathom-agent.tokenSecret" -}}
{{- default (printf "%s-token" (include "fathom-agent.fullname" .)) .Values.apiToken.existingSecret -}}
{{- end -}}
{{- define "fathom-agent.tokenKey" -}}
{{- if .Values.apiToken.existingSecret -}}{{ .Values.apiToken.existingSecretKey }}{{- else -}}token{{- end -}}
{{- end -}}

{{/* Where the token and the spool are mounted inside the pod. */}}
{{- define "fathom-agent.tokenDirectory" -}}/var/run/secrets/fathom{{- end -}}
{{- define "fathom-agent.spoolDirectory" -}}/var/spool/fathom{{- end -}}

{{/*
The agent's config.yaml: the user's `config` block plus what the chart owns (agent id, token file,
spool, admin address and port, shutdown grace period). Required values fail the render with a message saying what to set.
*/}}
{{- define "fathom-agent.config" -}}
{{- if not .Values.config.cluster.name -}}
{{- fail "config.cluster.name is required: the name of this cluster as the SaaS shows it" -}}
{{- end -}}
{{- if not .Values.config.report.endpoint -}}
{{- fail "config.report.endpoint is required: the collector URL, e.g. https://ingest.example.com/v1/reports" -}}
{{- end -}}
{{- if and (not .Values.apiToken.value) (not .Values.apiToken.existingSecret) -}}
{{- fail "set apiToken.existingSecret (a Secret holding the API token) or apiToken.value" -}}
{{- end -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "agent" (dict "id" (include "fathom-agent.fullname" .)) -}}
{{- $report := deepCopy $config.report -}}
{{- $_ := set $report "tokenFile" (printf "%s/token" (include "fathom-agent.tokenDirectory" .)) -}}
{{- if .Values.spool.enabled -}}
{{- $_ := set $report "spool" (dict "directory" (include "fathom-agent.spoolDirectory" .) "maxBytes" (.Values.spool.maxBytes | toString)) -}}
{{- end -}}
{{- $_ := set $config "report" $report -}}
{{- $_ := set $config "admin" (dict "address" .Values.admin.address "port" .Values.admin.port) -}}
{{- $_ := set $config "shutdown" (dict "gracePeriod" (printf "%ds" (int .Values.shutdownGraceSeconds))) -}}
{{- toYaml $config -}}
{{- end -}}
