{{/*
The image of an app tier: [<registry>/]tasktier/<tier>:<tag>. Called as
include "tasktier.image" (list . "frontend").
*/}}
{{- define "tasktier.image" -}}
{{- $root := index . 0 -}}
{{- $tier := index . 1 -}}
{{- with $root.Values.image.registry }}{{ . }}/{{ end }}tasktier/{{ $tier }}:{{ $root.Values.image.tag }}
{{- end -}}
