{{/* Names, labels and the flag lists of the three tote processes. */}}

{{- define "tote.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tote.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component's objects: <fullname>-<component>, kept under 63 characters. */}}
{{- define "tote.componentName" -}}
{{- printf "%s-%s" (include "tote.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "tote.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tote.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tote.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "tote.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tote
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tote.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/* Temporal frontend address: the embedded dev server's Service, or temporal.address. */}}
{{- define "tote.temporalAddress" -}}
{{- if .Values.temporal.embedded }}
{{- printf "%s.%s.svc:7233" (include "tote.componentName" (dict "root" . "component" "temporal")) .Release.Namespace }}
{{- else }}
{{- required "temporal.address is required when temporal.embedded is false (host:port of your Temporal frontend)" .Values.temporal.address }}
{{- end }}
{{- end }}

{{/* Secret holding the agent/worker mTLS material. */}}
{{- define "tote.tlsSecret" -}}
{{- if .root.Values.tls.existingSecret }}
{{- .root.Values.tls.existingSecret }}
{{- else if .root.Values.tls.certManager.enabled }}
{{- printf "%s-tls" (include "tote.componentName" (dict "root" .root "component" .component)) }}
{{- else }}
{{- fail "tls.enabled needs tls.existingSecret or tls.certManager.enabled=true" }}
{{- end }}
{{- end }}

{{- define "tote.temporalTLS" -}}
{{- $t := .Values.temporal }}
{{- if or $t.tls.enabled $t.tls.existingSecret $t.tls.caSecret $t.apiKey.existingSecret }}true{{ end }}
{{- end }}

{{/* Flags every Temporal client (controller, worker) gets. */}}
{{- define "tote.temporalArgs" -}}
- --temporal-address={{ include "tote.temporalAddress" . }}
- --temporal-namespace={{ .Values.temporal.namespace }}
- --task-queue={{ .Values.temporal.taskQueue }}
{{- if include "tote.temporalTLS" . }}
- --temporal-tls
{{- with .Values.temporal.tls.serverName }}
- --temporal-tls-server-name={{ . }}
{{- end }}
{{- end }}
{{- if .Values.temporal.tls.existingSecret }}
- --temporal-tls-cert=/etc/tote/temporal-tls/tls.crt
- --temporal-tls-key=/etc/tote/temporal-tls/tls.key
{{- end }}
{{- if .Values.temporal.tls.caSecret }}
- --temporal-tls-ca=/etc/tote/temporal-ca/ca.crt
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- --temporal-api-key-file=/etc/tote/temporal-api-key/{{ .Values.temporal.apiKey.key }}
{{- end }}
{{- end }}

{{/* Volumes and mounts for the Temporal client credentials. */}}
{{- define "tote.temporalVolumes" -}}
{{- with .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.temporal.tls.caSecret }}
- name: temporal-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.temporal.apiKey.existingSecret }}
- name: temporal-api-key
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{- define "tote.temporalMounts" -}}
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/tote/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.temporal.tls.caSecret }}
- name: temporal-ca
  mountPath: /etc/tote/temporal-ca
  readOnly: true
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: temporal-api-key
  mountPath: /etc/tote/temporal-api-key
  readOnly: true
{{- end }}
{{- end }}

{{/* Flags for the agent mTLS material, mounted at /etc/tote/tls. */}}
{{- define "tote.tlsArgs" -}}
{{- if .Values.tls.enabled -}}
- --tls-cert=/etc/tote/tls/tls.crt
- --tls-key=/etc/tote/tls/tls.key
- --tls-ca=/etc/tote/tls/ca.crt
{{- end }}
{{- end }}

{{/* Process-level flags every component shares. */}}
{{- define "tote.commonArgs" -}}
- --json-log={{ .root.Values.jsonLog }}
- --health-port={{ .cfg.healthPort }}
- --metrics-addr=:{{ .cfg.metricsPort }}
{{- end }}

{{/* Restricted-profile security context for non-root containers. */}}
{{- define "tote.restrictedContainerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "tote.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* HTTP probes on the plain health port (gRPC probes cannot present client certificates). */}}
{{- define "tote.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  failureThreshold: 2
{{- end }}

{{/*
A CA bundle from a Secret or a ConfigMap of the release namespace, as a volume: dict "name" (volume name),
"what" (the values path, for the error) and "src" (a map with caSecret, caConfigMap, caKey). Empty when neither
is set; both set fails the render.
*/}}
{{- define "tote.caVolume" -}}
{{- if and .src.caSecret .src.caConfigMap }}
{{- fail (printf "%s: set caSecret or caConfigMap, not both" .what) }}
{{- end }}
{{- with .src.caSecret }}
- name: {{ $.name }}
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.src.caKey }}
        path: {{ $.src.caKey }}
{{- end }}
{{- with .src.caConfigMap }}
- name: {{ $.name }}
  configMap:
    name: {{ . }}
    items:
      - key: {{ $.src.caKey }}
        path: {{ $.src.caKey }}
{{- end }}
{{- end }}
