{{- define "claude-operator.name" -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* An image reference from (list <image value> .): the tag defaults to the chart's appVersion. */ -}}
{{- define "claude-operator.image" -}}
{{- $image := index . 0 }}
{{- printf "%s:%s" $image.repository ($image.tag | default (index . 1).Chart.AppVersion) -}}
{{- end -}}

{{- define "claude-operator.labels" -}}
app.kubernetes.io/name: claude-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}


{{- /* The Secret (name, key) with the database URL, or empty when databaseUrl is given as is. */ -}}
{{- define "claude-operator.databaseUrlEnv" -}}
{{- $secret := .Values.operator.databaseUrlSecret }}
{{- if and .Values.postgres.enabled (not .Values.operator.databaseUrl) (not $secret.name) }}
{{- $secret = dict "name" (printf "%s-postgres" (include "claude-operator.name" .)) "key" "url" }}
{{- end }}
{{- if $secret.name }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret.name }}, key: {{ $secret.key | default "url" }}}
{{- else }}
- {name: DATABASE_URL, value: {{ .Values.operator.databaseUrl | quote }}}
{{- end }}
{{- end -}}

{{- define "claude-operator.redisUrl" -}}
{{- if and .Values.redis.enabled (not .Values.operator.redisUrl) -}}
{{- printf "redis://%s-redis.%s.svc:6379" (include "claude-operator.name" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.operator.redisUrl -}}
{{- end -}}
{{- end -}}
