package knative

// Profile is how one function's Knative Service scales and what it asks
// of a node. Knative's autoscaler counts in-flight requests per pod
// (metric concurrency), so Target is requests a pod serves at once before
// another is started.
type Profile struct {
	MinScale       int
	MaxScale       int
	Target         int
	CPU            string // request
	Memory         string // request
	MemoryLimit    string
	TimeoutSeconds int // Knative request timeout; event deliveries count too
}

// profiles are the functions whose load is known to differ from the
// defaults in ProfileFor. The reasons are in the comments because the
// numbers only make sense against them. (A function, not a package
// variable, so that nothing can change the table at run time.)
func profiles() map[string]Profile {
	return map[string]Profile{
		// The SDK calls ingest on every ad request: never cold, scales out
		// wide, and each request is short.
		"ingest": {MinScale: 2, MaxScale: 50, Target: 100, CPU: "250m", Memory: "256Mi", MemoryLimit: "512Mi", TimeoutSeconds: 30},
		// Sweeps triggered by PingSources a few times an hour: scale to zero
		// between ticks, and never run many sweeps side by side.
		"deadlines": {MinScale: 0, MaxScale: 2, Target: 10, CPU: "100m", Memory: "128Mi", MemoryLimit: "512Mi", TimeoutSeconds: 600},
		"retention": {MinScale: 0, MaxScale: 2, Target: 10, CPU: "100m", Memory: "256Mi", MemoryLimit: "1Gi", TimeoutSeconds: 900},
		// Audit appends every event to one hash chain; more pods only
		// contend on the chain head, so few pods with many requests each.
		"audit": {MinScale: 1, MaxScale: 3, Target: 100, CPU: "100m", Memory: "128Mi", MemoryLimit: "512Mi", TimeoutSeconds: 60},
		// Exports build ZIP archives of a subject's data: memory and time,
		// one or two at a time per pod.
		"export": {MinScale: 0, MaxScale: 5, Target: 2, CPU: "250m", Memory: "512Mi", MemoryLimit: "2Gi", TimeoutSeconds: 900},
		// Erasure walks every collection for a subject; bursts after policy
		// events, idle otherwise.
		"erasure": {MinScale: 0, MaxScale: 5, Target: 10, CPU: "100m", Memory: "256Mi", MemoryLimit: "1Gi", TimeoutSeconds: 600},
		// Incidents and policies are ops endpoints used a few times a year,
		// but an incident fans out notices, so allow a few pods.
		"incidents": {MinScale: 0, MaxScale: 3, Target: 20, CPU: "100m", Memory: "128Mi", MemoryLimit: "512Mi", TimeoutSeconds: 300},
		"policies":  {MinScale: 0, MaxScale: 3, Target: 20, CPU: "100m", Memory: "128Mi", MemoryLimit: "512Mi", TimeoutSeconds: 300},
	}
}

// ProfileFor returns the function's profile: the table above, or a
// default by kind. Functions with HTTP routes face people (the privacy
// center, the API, the mailbox hook), so one pod stays warm to avoid a
// cold start in front of a user; event-only functions scale to zero
// because the broker retries while a pod starts.
func ProfileFor(f Function) Profile {
	if p, ok := profiles()[f.Name]; ok {
		return p
	}
	p := Profile{MinScale: 0, MaxScale: 10, Target: 50, CPU: "100m", Memory: "128Mi", MemoryLimit: "512Mi", TimeoutSeconds: 300}
	if f.Public() {
		p.MinScale = 1
		p.Target = 100
	}
	return p
}
