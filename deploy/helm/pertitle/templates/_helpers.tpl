{{- define "pertitle.labels" -}}
app.kubernetes.io/part-of: pertitle
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{ include "pertitle.selector" . }}
{{- end -}}

{{- define "pertitle.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* image: registry/repository@digest, else :tag */}}
{{- define "pertitle.image" -}}
{{- $img := .svc.image -}}
{{- if $img.digest -}}
{{ .root.Values.image.registry }}/{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{ .root.Values.image.registry }}/{{ $img.repository }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* queue name of a service on a topic, as pkg/bus QueueName */}}
{{- define "pertitle.queueURL" -}}
https://sqs.{{ .root.Values.aws.region }}.amazonaws.com/{{ .root.Values.aws.accountId }}/{{ .root.Values.bus.prefix }}{{ .service }}--{{ .topic }}
{{- end -}}
