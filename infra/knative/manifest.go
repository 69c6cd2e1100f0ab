package knative

// Light typed views of the Kubernetes, Knative and kustomize objects Veil
// uses. The generator writes them and the checks read them back. They
// hold only the fields Veil sets or a cluster would reject, so decoding
// ignores the rest; importing knative.dev/eventing for the real types
// would cost minutes of cold build for no extra safety here.

// API versions and kinds.
const (
	ServingV1         = "serving.knative.dev/v1"
	EventingV1        = "eventing.knative.dev/v1"
	EventingV1Alpha1  = "eventing.knative.dev/v1alpha1"
	SourcesV1         = "sources.knative.dev/v1"
	CoreV1            = "v1"
	KustomizeV1Beta1  = "kustomize.config.k8s.io/v1beta1"
	KustomizeV1Alpha1 = "kustomize.config.k8s.io/v1alpha1"
)

// Names shared by the generator, the overlays, func.yaml and the checks.
const (
	BrokerName      = "veil"
	DeadLetters     = "veil-dead-letters"
	ScheduleTicks   = "veil-schedule-ticks"
	SinkBindingName = "veil-broker"
	ServiceAccount  = "veil"
	ConfigMapName   = "veil-config"
	SecretName      = "veil-secrets"
	ChannelConfig   = "veil-broker-channel"
	// ImageName is the placeholder every function Service runs; deploy.sh
	// (or a kustomize `images:` entry) replaces it with the digest func
	// built, so no tag can ever move under a running revision.
	ImageName = "veil"
	// FuncService is the name func.yaml gives the Service `func deploy`
	// creates; no function may take it.
	FuncService = "veil"

	// Labels.
	LabelPartOf     = "app.kubernetes.io/part-of"
	LabelComponent  = "app.kubernetes.io/component"
	LabelFunction   = "veil.dev/function"
	LabelBroker     = "veil.dev/broker"
	LabelVisibility = "networking.knative.dev/visibility"

	// Autoscaling annotations (per revision template).
	AnnMinScale = "autoscaling.knative.dev/min-scale"
	AnnMaxScale = "autoscaling.knative.dev/max-scale"
	AnnTarget   = "autoscaling.knative.dev/target"
	AnnMetric   = "autoscaling.knative.dev/metric"
	AnnClass    = "eventing.knative.dev/broker.class"

	// SecretKeys are the variables read from the Secret veil-secrets.
	SecretOpsToken  = "VEIL_OPS_TOKEN"
	SecretMasterKey = "VEIL_MASTER_KEY"
)

// Header is the first object-level view: enough to route a document to
// its typed view.
type Header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
}

// Meta is object metadata.
type Meta struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Ref is a Knative KReference.
type Ref struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Name       string `yaml:"name"`
	Namespace  string `yaml:"namespace,omitempty"`
}

// Destination is a Knative duck Destination.
type Destination struct {
	Ref *Ref   `yaml:"ref,omitempty"`
	URI string `yaml:"uri,omitempty"`
}

// Delivery is a Knative DeliverySpec.
type Delivery struct {
	Retry          *int         `yaml:"retry,omitempty"`
	BackoffPolicy  string       `yaml:"backoffPolicy,omitempty"`
	BackoffDelay   string       `yaml:"backoffDelay,omitempty"`
	DeadLetterSink *Destination `yaml:"deadLetterSink,omitempty"`
}

// KService is a Knative Serving Service.
type KService struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Template struct {
			Metadata Meta    `yaml:"metadata"`
			Spec     PodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// PodSpec is the part of a revision's pod spec Veil sets.
type PodSpec struct {
	ServiceAccountName   string      `yaml:"serviceAccountName,omitempty"`
	ContainerConcurrency *int        `yaml:"containerConcurrency,omitempty"`
	TimeoutSeconds       int         `yaml:"timeoutSeconds,omitempty"`
	Containers           []Container `yaml:"containers"`
}

// Container is one container.
type Container struct {
	Name           string     `yaml:"name,omitempty"`
	Image          string     `yaml:"image"`
	Env            []EnvVar   `yaml:"env,omitempty"`
	EnvFrom        []EnvFrom  `yaml:"envFrom,omitempty"`
	Resources      *Resources `yaml:"resources,omitempty"`
	ReadinessProbe *Probe     `yaml:"readinessProbe,omitempty"`
	LivenessProbe  *Probe     `yaml:"livenessProbe,omitempty"`
}

// EnvVar is one variable, literal or from a Secret key.
type EnvVar struct {
	Name      string     `yaml:"name"`
	Value     string     `yaml:"value,omitempty"`
	ValueFrom *ValueFrom `yaml:"valueFrom,omitempty"`
}

// ValueFrom names a Secret key.
type ValueFrom struct {
	SecretKeyRef *KeyRef `yaml:"secretKeyRef,omitempty"`
}

// KeyRef is a key of a named Secret or ConfigMap.
type KeyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// EnvFrom imports a whole ConfigMap.
type EnvFrom struct {
	ConfigMapRef *NameRef `yaml:"configMapRef,omitempty"`
	SecretRef    *NameRef `yaml:"secretRef,omitempty"`
}

// NameRef names an object in the same namespace.
type NameRef struct {
	Name string `yaml:"name"`
}

// Resources are requests and limits.
type Resources struct {
	Requests map[string]string `yaml:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty"`
}

// Probe is an HTTP GET probe on the serving port.
type Probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
	PeriodSeconds int `yaml:"periodSeconds,omitempty"`
}

// Trigger is a Knative Eventing Trigger.
type Trigger struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Broker string `yaml:"broker"`
		Filter struct {
			Attributes map[string]string `yaml:"attributes"`
		} `yaml:"filter"`
		Subscriber Destination `yaml:"subscriber"`
		Delivery   *Delivery   `yaml:"delivery,omitempty"`
	} `yaml:"spec"`
}

// Broker is a Knative Eventing Broker.
type Broker struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Config   *Ref      `yaml:"config,omitempty"`
		Delivery *Delivery `yaml:"delivery,omitempty"`
	} `yaml:"spec"`
}

// ConfigMap is a core ConfigMap.
type ConfigMap struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   Meta              `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

// ServiceAccountObj is a core ServiceAccount.
type ServiceAccountObj struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
}

// PingSource is a Knative PingSource.
type PingSource struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Schedule    string      `yaml:"schedule"`
		Timezone    string      `yaml:"timezone,omitempty"`
		ContentType string      `yaml:"contentType,omitempty"`
		Data        string      `yaml:"data,omitempty"`
		Sink        Destination `yaml:"sink"`
	} `yaml:"spec"`
}

// EventTransform is a Knative EventTransform (Eventing 1.17+): here it
// turns a PingSource's dev.knative.sources.ping event into a catalog type,
// because a PingSource cannot set the CloudEvent type itself.
type EventTransform struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Sink    *Destination `yaml:"sink,omitempty"`
		Jsonata struct {
			Expression string `yaml:"expression"`
		} `yaml:"jsonata"`
	} `yaml:"spec"`
}

// SinkBinding is a Knative SinkBinding.
type SinkBinding struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Subject struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name,omitempty"`
			Selector   *struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector,omitempty"`
		} `yaml:"subject"`
		Sink Destination `yaml:"sink"`
	} `yaml:"spec"`
}

// KafkaSink is a Knative Kafka sink (the dead-letter topic at scale).
type KafkaSink struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   Meta   `yaml:"metadata"`
	Spec       struct {
		Topic            string   `yaml:"topic"`
		BootstrapServers []string `yaml:"bootstrapServers"`
	} `yaml:"spec"`
}

// Kustomization is a kustomization.yaml (kind Kustomization or Component)
// limited to the fields the renderer implements; decoding refuses others.
type Kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace,omitempty"`
	Resources  []string `yaml:"resources,omitempty"`
	Components []string `yaml:"components,omitempty"`
	Patches    []Patch  `yaml:"patches,omitempty"`
	Images     []Image  `yaml:"images,omitempty"`
}

// Patch is a kustomize patch: a JSON 6902 patch file and its target.
type Patch struct {
	Path   string  `yaml:"path,omitempty"`
	Target *Target `yaml:"target,omitempty"`
}

// Target selects the objects a patch applies to.
type Target struct {
	Group         string `yaml:"group,omitempty"`
	Version       string `yaml:"version,omitempty"`
	Kind          string `yaml:"kind,omitempty"`
	Name          string `yaml:"name,omitempty"`
	LabelSelector string `yaml:"labelSelector,omitempty"`
}

// Image is a kustomize image override.
type Image struct {
	Name    string `yaml:"name"`
	NewName string `yaml:"newName,omitempty"`
	NewTag  string `yaml:"newTag,omitempty"`
	Digest  string `yaml:"digest,omitempty"`
}
