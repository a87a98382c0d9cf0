{{/*
Expand the name of the chart.
*/}}
{{- define "wrapped-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "wrapped-gateway.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "wrapped-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "wrapped-gateway.labels" -}}
helm.sh/chart: {{ include "wrapped-gateway.chart" . }}
{{ include "wrapped-gateway.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "wrapped-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wrapped-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "wrapped-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wrapped-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "wrapped-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
"true" when leader election is on: more than one replica, or asked for.
*/}}
{{- define "wrapped-gateway.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
The leader election Lease name.
*/}}
{{- define "wrapped-gateway.leaseName" -}}
{{- default (include "wrapped-gateway.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
RBAC rules the controller needs on namespaced resources, wherever it watches: list and watch
routes, WrappedGateways and Gateways (it reads from its watch-fed index, never GETs one object),
server-side apply the generated Gateways (PATCH, and CREATE when the apply creates the Gateway),
server-side apply WrappedGateway status, post Events on refused routes.
Each verb is proven needed by tests/e2e/test_rbac.py.
*/}}
{{- define "wrapped-gateway.namespacedRules" -}}
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes"]
  verbs: ["list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways"]
  verbs: ["list", "watch", "create", "patch"]
# ListenerSets mode: one ListenerSet per route namespace, applied (patch, create), deleted when no
# route needs it.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["listenersets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["wrapped-gateway.dev"]
  resources: ["wrappedgateways"]
  verbs: ["list", "watch"]
- apiGroups: ["wrapped-gateway.dev"]
  resources: ["wrappedgateways/status"]
  verbs: ["patch"]
{{- if .Values.rbac.ownerReferencesPermissionEnforcement }}
- apiGroups: ["wrapped-gateway.dev"]
  resources: ["wrappedgateways/finalizers"]
  verbs: ["update"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.rbac.dnsEndpoints }}
- apiGroups: ["externaldns.k8s.io"]
  resources: ["dnsendpoints"]
  verbs: ["create", "patch", "delete"]
{{- end }}
{{- end }}

{{/*
RBAC rules on cluster-scoped resources, needed in every mode: Namespaces (their labels decide
which routes may attach) and CustomResourceDefinitions (kopf notices route CRDs installed later).
*/}}
{{- define "wrapped-gateway.clusterRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
