{{/* Chart name, possibly overridden. */}}
{{- define "sextant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object: the release name, with the chart name unless it already has it. */}}
{{- define "sextant.fullname" -}}
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

{{- define "sextant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sextant.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "sextant.labels" -}}
helm.sh/chart: {{ include "sextant.chart" . }}
app.kubernetes.io/name: {{ include "sextant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "ingester"). */}}
{{- define "sextant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sextant.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector of the pods that take part in gossip (every component). */}}
{{- define "sextant.gossipSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: memberlist
{{- end }}

{{/* The memberlist seed: the headless gossip Service, resolving to every member pod. */}}
{{- define "sextant.joinMembers" -}}
{{- printf "%s-gossip.%s.svc.%s:7946" (include "sextant.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* Pod anti-affinity spreading one component's replicas over nodes, unless set in values. */}}
{{- define "sextant.affinity" -}}
{{- if .affinity }}
{{- toYaml .affinity }}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "sextant.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- end }}
{{- end }}

{{/* Volumes for the config and the runtime overrides (no subPath: updates reach the pods). */}}
{{- define "sextant.configVolumes" -}}
- name: config
  configMap:
    name: {{ include "sextant.fullname" . }}-config
- name: runtime
  configMap:
    name: {{ include "sextant.fullname" . }}-runtime
{{- end }}

{{- define "sextant.configVolumeMounts" -}}
- name: config
  mountPath: /etc/sextant/config
  readOnly: true
- name: runtime
  mountPath: /etc/sextant/runtime
  readOnly: true
{{- end }}

{{/* "true" when the pods reading or writing blocks mount the S3 secret access key. */}}
{{- define "sextant.s3SecretMounted" -}}
{{- and (eq (toString .Values.config.storage.backend) "s3") .Values.s3Secret.enabled }}
{{- end }}

{{/* The Secret holding the S3 secret access key. */}}
{{- define "sextant.s3SecretName" -}}
{{- default (printf "%s-s3" (include "sextant.fullname" .)) .Values.s3Secret.existingSecret }}
{{- end }}

{{/* Volumes of the components using storage (ingester, querier, compactor, ruler): the S3 key
     and extras;
     call with (dict "ctx" $ "extra" .Values.<component>.extraVolumes). */}}
{{- define "sextant.storageVolumes" -}}
{{- if eq (include "sextant.s3SecretMounted" .ctx) "true" }}
- name: s3-secret
  secret:
    secretName: {{ include "sextant.s3SecretName" .ctx }}
    items:
      - key: {{ .ctx.Values.s3Secret.key }}
        path: secret_access_key
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Mounts matching sextant.storageVolumes: the key lands in
     /etc/sextant/s3/secret_access_key (config.storage.s3.secret_access_key_file). */}}
{{- define "sextant.storageVolumeMounts" -}}
{{- if eq (include "sextant.s3SecretMounted" .ctx) "true" }}
- name: s3-secret
  mountPath: /etc/sextant/s3
  readOnly: true
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* A Deployment's rolling update that keeps one pod running (for single-replica components). */}}
{{- define "sextant.rollingUpdateKeepOne" -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
{{- end }}

{{/* The in-cluster base URLs the rulers query and push to, unless set in config.ruler. */}}
{{- define "sextant.rulerQueryAddress" -}}
{{- printf "http://%s-querier.%s.svc.%s:%v" (include "sextant.fullname" .) .Release.Namespace .Values.clusterDomain .Values.querier.service.port }}
{{- end }}

{{- define "sextant.rulerPushAddress" -}}
{{- printf "http://%s-distributor.%s.svc.%s:%v" (include "sextant.fullname" .) .Release.Namespace .Values.clusterDomain .Values.distributor.service.port }}
{{- end }}

{{/* Where the rulers find the files of ruler.rules (-ruler.local-directory). */}}
{{- define "sextant.rulerRulesDir" -}}
/etc/sextant/rules
{{- end }}

{{/* The files of ruler.rules as a YAML list of {key, path, content}: key in the ConfigMap
     <fullname>-ruler-rules (readable and unique: names sanitized plus a hash of the path),
     path under sextant.rulerRulesDir (<signal>/<tenant>/<namespace>.yaml), content the rule
     file (a string as given, else the YAML of the value). Read with fromYamlArray. */}}
{{- define "sextant.rulerRuleFiles" -}}
{{- $files := list }}
{{- range $signal, $tenants := .Values.ruler.rules }}
{{- if not (has $signal (list "metrics" "logs")) }}
{{- fail (printf "ruler.rules.%s: rules exist for the signals metrics and logs only" $signal) }}
{{- end }}
{{- range $tenant, $namespaces := $tenants }}
{{- range $namespace, $file := $namespaces }}
{{- range $name := list $tenant $namespace }}
{{- if or (contains "/" $name) (eq $name "" "." "..") }}
{{- fail (printf "ruler.rules.%s.%s.%s: %q cannot be a file name" $signal $tenant $namespace $name) }}
{{- end }}
{{- end }}
{{- $path := printf "%s/%s/%s.yaml" $signal $tenant $namespace }}
{{- $readable := regexReplaceAll "[^-._a-zA-Z0-9]" (printf "%s_%s_%s" $signal $tenant $namespace) "_" | trunc 200 }}
{{- $key := printf "%s-%s.yaml" $readable ($path | sha256sum | trunc 8) }}
{{- $content := ternary $file (toYaml $file) (kindIs "string" $file) }}
{{- $files = append $files (dict "key" $key "path" $path "content" $content) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $files }}
{{- end }}
