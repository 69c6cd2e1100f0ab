package knative

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/veil-privacy/veil/events"
	"github.com/veil-privacy/veil/infra/config"
)

// Set is a rendered overlay decoded into the light typed views, by name.
type Set struct {
	Services     map[string]KService // Knative Services
	Triggers     map[string]Trigger
	Brokers      map[string]Broker
	ConfigMaps   map[string]ConfigMap
	Accounts     map[string]ServiceAccountObj
	PingSources  map[string]PingSource
	Transforms   map[string]EventTransform
	SinkBindings map[string]SinkBinding
	KafkaSinks   map[string]KafkaSink
	Other        []string // ids of objects of other kinds (plain Deployments, core Services, …)
	Namespaces   []string
}

// Decode sorts rendered objects into a Set.
func Decode(objs []Object) (*Set, error) {
	s := &Set{Services: map[string]KService{}, Triggers: map[string]Trigger{}, Brokers: map[string]Broker{},
		ConfigMaps: map[string]ConfigMap{}, Accounts: map[string]ServiceAccountObj{}, PingSources: map[string]PingSource{},
		Transforms: map[string]EventTransform{}, SinkBindings: map[string]SinkBinding{}, KafkaSinks: map[string]KafkaSink{}}
	for _, o := range objs {
		raw, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		into := func(v any) error {
			if err := yaml.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("%s: %w", objectID(o), err)
			}
			return nil
		}
		n := name(o)
		switch av, k := str(o, "apiVersion"), str(o, "kind"); {
		case av == ServingV1 && k == "Service":
			var v KService
			err = into(&v)
			s.Services[n] = v
		case av == EventingV1 && k == "Trigger":
			var v Trigger
			err = into(&v)
			s.Triggers[n] = v
		case av == EventingV1 && k == "Broker":
			var v Broker
			err = into(&v)
			s.Brokers[n] = v
		case av == CoreV1 && k == "ConfigMap":
			var v ConfigMap
			err = into(&v)
			s.ConfigMaps[n] = v
		case av == CoreV1 && k == "ServiceAccount":
			var v ServiceAccountObj
			err = into(&v)
			s.Accounts[n] = v
		case av == SourcesV1 && k == "PingSource":
			var v PingSource
			err = into(&v)
			s.PingSources[n] = v
		case av == EventingV1Alpha1 && k == "EventTransform":
			var v EventTransform
			err = into(&v)
			s.Transforms[n] = v
		case av == SourcesV1 && k == "SinkBinding":
			var v SinkBinding
			err = into(&v)
			s.SinkBindings[n] = v
		case av == EventingV1Alpha1 && k == "KafkaSink":
			var v KafkaSink
			err = into(&v)
			s.KafkaSinks[n] = v
		case av == CoreV1 && k == "Namespace":
			s.Namespaces = append(s.Namespaces, n)
		default:
			s.Other = append(s.Other, objectID(o))
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Check reports what a cluster (or Veil at start-up) would reject in a
// rendered overlay, given the registered functions: references to objects
// that do not exist, event types outside the catalog, consumed types
// without a Trigger, bad durations, cron schedules and time zones, and
// configuration that infra/config would refuse. It returns every problem,
// not just the first.
func Check(objs []Object, fns []Function) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s, err := Decode(objs)
	if err != nil {
		return []error{err}
	}
	for _, o := range objs {
		if n := name(o); !dnsSubdomain.MatchString(n) {
			fail("%s: %q is not a valid object name", objectID(o), n)
		}
	}
	if len(s.Namespaces) != 1 {
		fail("an overlay creates exactly one Namespace, found %d", len(s.Namespaces))
	}
	byName := map[string]Function{}
	for _, f := range fns {
		byName[f.Name] = f
	}

	// Function Services: one per registered function, each naming it.
	fnService := map[string]string{} // Service name → VEIL_FUNCTIONS
	for n, svc := range s.Services {
		cs := svc.Spec.Template.Spec.Containers
		if len(cs) != 1 {
			fail("Service %s: want exactly one container, found %d", n, len(cs))
			continue
		}
		c := cs[0]
		if c.Image == "" {
			fail("Service %s: no image", n)
		}
		checkScale(n, svc.Spec.Template.Metadata.Annotations, fail)
		if svc.Metadata.Labels[LabelComponent] != "function" {
			continue
		}
		var fnEnv string
		for _, e := range c.Env {
			if e.Name == "VEIL_FUNCTIONS" {
				fnEnv = e.Value
			}
		}
		if fnEnv == "" {
			fail("Service %s: a function Service must set VEIL_FUNCTIONS", n)
			continue
		}
		fnService[n] = fnEnv
		if _, ok := byName[fnEnv]; !ok {
			fail("Service %s: VEIL_FUNCTIONS=%s is not a registered function (suite.Registry)", n, fnEnv)
		}
		if fnEnv != n {
			fail("Service %s: runs function %s; a function's Service carries its name", n, fnEnv)
		}
		if sa := svc.Spec.Template.Spec.ServiceAccountName; sa != "" {
			if _, ok := s.Accounts[sa]; !ok {
				fail("Service %s: ServiceAccount %s does not exist", n, sa)
			}
		}
		checkEnv(n, c, s, fail)
	}
	for _, f := range fns {
		if _, ok := fnService[f.Name]; !ok {
			fail("function %s has no Service (regenerate: go generate ./infra/knative)", f.Name)
		}
	}

	// Triggers: a catalog type, an existing broker and subscriber, and a
	// subscriber that consumes the type (its dispatcher refuses others).
	routed := map[string]bool{} // function + " " + type
	for n, tr := range s.Triggers {
		t := tr.Spec.Filter.Attributes["type"]
		if t == "" {
			fail("Trigger %s: no type filter; it would send every event", n)
		} else if !events.Known(t) {
			fail("Trigger %s: type %q is not in the events catalog", n, t)
		}
		if _, ok := s.Brokers[tr.Spec.Broker]; !ok {
			fail("Trigger %s: broker %q does not exist", n, tr.Spec.Broker)
		}
		ref := tr.Spec.Subscriber.Ref
		if ref == nil || ref.APIVersion != ServingV1 || ref.Kind != "Service" {
			fail("Trigger %s: the subscriber must be a Knative Service", n)
			continue
		}
		fn, ok := fnService[ref.Name]
		if !ok {
			fail("Trigger %s: subscriber Service %q does not exist", n, ref.Name)
			continue
		}
		if f, ok := byName[fn]; ok && !contains(f.Consumes, t) {
			fail("Trigger %s: sends %s to %s, which does not consume it", n, t, fn)
		}
		routed[fn+" "+t] = true
		checkDelivery("Trigger "+n, tr.Spec.Delivery, s, fail)
	}
	for _, f := range fns {
		for _, t := range f.Consumes {
			if !routed[f.Name+" "+t] {
				fail("function %s consumes %s but no Trigger routes it there (regenerate: go generate ./infra/knative)", f.Name, t)
			}
		}
	}

	for n, b := range s.Brokers {
		if b.Metadata.Annotations[AnnClass] == "" {
			fail("Broker %s: no broker class annotation", n)
		}
		if c := b.Spec.Config; c != nil {
			if c.Kind != "ConfigMap" {
				fail("Broker %s: config must be a ConfigMap", n)
			} else if _, ok := s.ConfigMaps[c.Name]; !ok {
				fail("Broker %s: config ConfigMap %q does not exist", n, c.Name)
			}
		}
		checkDelivery("Broker "+n, b.Spec.Delivery, s, fail)
	}

	// Schedules: cron and time zone parse, and what reaches the broker is
	// a catalog type (a PingSource alone sends dev.knative.sources.ping).
	for n, p := range s.PingSources {
		c, err := ParseCron(p.Spec.Schedule)
		if err != nil {
			fail("PingSource %s: %v", n, err)
		} else if p.Spec.Timezone != "" {
			loc, err := time.LoadLocation(p.Spec.Timezone)
			if err != nil {
				fail("PingSource %s: timezone %q: %v", n, p.Spec.Timezone, err)
			} else if c.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
				fail("PingSource %s: schedule %q never fires", n, p.Spec.Schedule)
			}
		}
		if p.Spec.ContentType == "application/json" && !json.Valid([]byte(p.Spec.Data)) {
			fail("PingSource %s: data is not JSON", n)
		}
		ref := p.Spec.Sink.Ref
		switch {
		case ref == nil:
			fail("PingSource %s: no sink", n)
		case ref.Kind == "EventTransform":
			et, ok := s.Transforms[ref.Name]
			if !ok {
				fail("PingSource %s: EventTransform %q does not exist", n, ref.Name)
				break
			}
			var tick events.ScheduleTickedData
			if t := TransformType(et); t == events.ScheduleTicked {
				dec := json.NewDecoder(strings.NewReader(p.Spec.Data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&tick); err != nil || tick.Job == "" {
					fail("PingSource %s: data %s is not a %s payload with a job", n, p.Spec.Data, t)
				}
			}
		default:
			fail("PingSource %s: sink %s %s would deliver dev.knative.sources.ping, which no function accepts; send it through an EventTransform", n, ref.Kind, ref.Name)
		}
	}
	for n, et := range s.Transforms {
		t := TransformType(et)
		if !events.Known(t) {
			fail("EventTransform %s: emits type %q, not in the events catalog", n, t)
		}
		if et.Spec.Sink == nil || et.Spec.Sink.Ref == nil || et.Spec.Sink.Ref.Kind != "Broker" {
			fail("EventTransform %s: its sink must be the broker", n)
		} else if _, ok := s.Brokers[et.Spec.Sink.Ref.Name]; !ok {
			fail("EventTransform %s: broker %q does not exist", n, et.Spec.Sink.Ref.Name)
		}
	}

	// SinkBinding: every function Service gets K_SINK, pointing at a broker.
	bound := map[string]bool{}
	for n, sb := range s.SinkBindings {
		if ref := sb.Spec.Sink.Ref; ref == nil || ref.Kind != "Broker" {
			fail("SinkBinding %s: sink must be the broker", n)
		} else if _, ok := s.Brokers[ref.Name]; !ok {
			fail("SinkBinding %s: broker %q does not exist", n, ref.Name)
		}
		subj := sb.Spec.Subject
		if subj.APIVersion != ServingV1 || subj.Kind != "Service" || subj.Selector == nil || len(subj.Selector.MatchLabels) == 0 {
			fail("SinkBinding %s: subject must select Knative Services by label", n)
			continue
		}
		for sn, svc := range s.Services {
			if matchLabels(svc.Metadata.Labels, subj.Selector.MatchLabels) {
				bound[sn] = true
			}
		}
	}
	for sn := range fnService {
		if !bound[sn] {
			fail("Service %s: no SinkBinding selects it, so it has no K_SINK and cannot publish", sn)
		}
	}
	for n, k := range s.KafkaSinks {
		if k.Spec.Topic == "" || len(k.Spec.BootstrapServers) == 0 {
			fail("KafkaSink %s: needs a topic and bootstrap servers", n)
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

var (
	dnsSubdomain    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	transformTypeRe = regexp.MustCompile(`"type"\s*:\s*"([^"]+)"`)
)

// TransformType is the CloudEvent type an EventTransform's expression
// sets (a string literal), or "" when it sets none or computes it.
func TransformType(et EventTransform) string {
	m := transformTypeRe.FindStringSubmatch(et.Spec.Jsonata.Expression)
	if m == nil {
		return ""
	}
	return m[1]
}

func checkScale(n string, ann map[string]string, fail func(string, ...any)) {
	get := func(k string) (int, bool) {
		v, ok := ann[k]
		if !ok {
			return 0, false
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			fail("Service %s: %s=%q is not a whole number", n, k, v)
			return 0, false
		}
		return i, true
	}
	lo, okLo := get(AnnMinScale)
	hi, okHi := get(AnnMaxScale)
	if okLo && okHi && hi > 0 && lo > hi {
		fail("Service %s: min-scale %d is above max-scale %d", n, lo, hi)
	}
	get(AnnTarget)
}

// checkEnv checks that a function Service's environment resolves: the
// Secret keys it reads are the ones operators create, and the ConfigMap
// it imports exists and is a configuration infra/config accepts.
func checkEnv(n string, c Container, s *Set, fail func(string, ...any)) {
	env := map[string]string{
		// Stand-ins for what the cluster supplies: valid-looking secrets
		// and the SinkBinding's K_SINK.
		SecretOpsToken:  strings.Repeat("0", 64),
		SecretMasterKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"K_SINK":        "http://broker-ingress.knative-eventing.svc.cluster.local/veil/veil",
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			fail("Service %s: envFrom must name ConfigMaps only (secrets are read key by key)", n)
			continue
		}
		cm, ok := s.ConfigMaps[ef.ConfigMapRef.Name]
		if !ok {
			fail("Service %s: ConfigMap %q does not exist", n, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil || ref.Name != SecretName || (ref.Key != SecretOpsToken && ref.Key != SecretMasterKey) {
				fail("Service %s: %s must come from Secret %s key %s or %s", n, e.Name, SecretName, SecretOpsToken, SecretMasterKey)
			}
			continue
		}
		env[e.Name] = e.Value
	}
	if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
		fail("Service %s: Veil would refuse this configuration: %v", n, err)
	}
}

func checkDelivery(what string, d *Delivery, s *Set, fail func(string, ...any)) {
	if d == nil {
		fail("%s: no delivery spec (retry, backoff, dead-letter sink)", what)
		return
	}
	if d.Retry == nil || *d.Retry < 1 {
		fail("%s: delivery.retry must be at least 1", what)
	}
	if d.BackoffPolicy != "exponential" && d.BackoffPolicy != "linear" {
		fail("%s: backoffPolicy %q must be exponential or linear", what, d.BackoffPolicy)
	}
	if dur, err := ParseISODuration(d.BackoffDelay); err != nil {
		fail("%s: backoffDelay: %v", what, err)
	} else if dur <= 0 {
		fail("%s: backoffDelay must be positive", what)
	}
	if d.DeadLetterSink == nil || d.DeadLetterSink.Ref == nil {
		fail("%s: no dead-letter sink", what)
		return
	}
	ref := d.DeadLetterSink.Ref
	switch {
	case ref.APIVersion == ServingV1 && ref.Kind == "Service":
		svc, ok := s.Services[ref.Name]
		if !ok {
			fail("%s: dead-letter Service %q does not exist", what, ref.Name)
		} else if svc.Metadata.Labels[LabelComponent] == "function" {
			// A function's dispatcher would re-deliver the event to its
			// handlers (and skip it as already handled), losing it.
			fail("%s: dead letters must not go to a function Service (%s)", what, ref.Name)
		}
	case ref.APIVersion == EventingV1Alpha1 && ref.Kind == "KafkaSink":
		if _, ok := s.KafkaSinks[ref.Name]; !ok {
			fail("%s: dead-letter KafkaSink %q does not exist", what, ref.Name)
		}
	default:
		fail("%s: dead-letter sink %s/%s is not a Knative Service or KafkaSink", what, ref.APIVersion, ref.Kind)
	}
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
