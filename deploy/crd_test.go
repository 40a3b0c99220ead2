package deploy

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources the manifests use are not in k8s.io/api. Rather than
// depend on KEDA's and the Prometheus Operator's modules, these are their
// fields as the CRDs define them (keda.sh/v1alpha1 ScaledObject,
// apis/keda/v1alpha1/scaledobject_types.go; monitoring.coreos.com/v1
// PodMonitor), as far as the manifests may use them: decoded strictly, a
// misspelt or misplaced field fails.

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef        *scaleTarget   `json:"scaleTargetRef"`
	PollingInterval       *int32         `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32         `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32         `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32         `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32         `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32         `json:"maxReplicaCount,omitempty"`
	Advanced              *kedaAdvanced  `json:"advanced,omitempty"`
	Triggers              []scaleTrigger `json:"triggers"`
	Fallback              *scaleFallback `json:"fallback,omitempty"`
}

type scaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type kedaAdvanced struct {
	HorizontalPodAutoscalerConfig *struct {
		Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
		Name     string                                         `json:"name,omitempty"`
	} `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
}

type scaleFallback struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

type scaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// kafkaTriggerMetadata are the metadata keys of KEDA's kafka scaler
// (https://keda.sh/docs/latest/scalers/apache-kafka/). KEDA ignores keys it
// does not know, so a misspelt one would silently fall back to a default.
var kafkaTriggerMetadata = map[string]bool{
	"bootstrapServers": true, "bootstrapServersFromEnv": true,
	"consumerGroup": true, "consumerGroupFromEnv": true,
	"topic": true, "topicFromEnv": true,
	"lagThreshold": true, "activationLagThreshold": true, "offsetResetPolicy": true,
	"allowIdleConsumers": true, "scaleToZeroOnInvalidOffset": true, "excludePersistentLag": true,
	"limitToPartitionsWithLag": true, "ensureEvenDistributionOfPartitions": true,
	"version": true, "partitionLimitation": true, "sasl": true, "tls": true, "unsafeSsl": true,
}

type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			HonorLabels   bool   `json:"honorLabels,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}
