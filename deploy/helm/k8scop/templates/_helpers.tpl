{{- define "k8scop.labels" -}}
app.kubernetes.io/name: k8scop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "k8scop.selector" -}}
app.kubernetes.io/name: k8scop
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "k8scop.rulesConfigMap" -}}
{{- if .Values.rules.existingConfigMap -}}
{{ .Values.rules.existingConfigMap }}
{{- else if .Values.rules.files -}}
{{ .Release.Name }}-rules
{{- end -}}
{{- end -}}
