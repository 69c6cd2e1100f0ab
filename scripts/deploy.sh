#!/usr/bin/env bash
# Deploy Veil to a Knative cluster: `func deploy` builds and pushes the one
# image (and runs it as the Service "veil"), then the chosen overlay of
# infra/knative is applied with that image digest: one Knative Service per
# function, their Triggers, the broker, schedules and SinkBinding.
# Re-running it is safe: everything is `kubectl apply`.
#
#   scripts/deploy.sh --overlay production-cn            # build, push, apply
#   scripts/deploy.sh --overlay dev --image REF@sha256:… # apply an image built elsewhere
#   scripts/deploy.sh --overlay dev --dry-run            # print what would be applied
#
# --dry-run needs only Go: the manifests are rendered by
# infra/knative/render (the kustomize subset the layout uses), which is
# also what a real run applies. See docs/deploying.md.
set -euo pipefail

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'USAGE'
Options:
  --overlay NAME   dev | production-cn (any directory under infra/knative/overlays); default dev
  --image REF      deploy this image (name@sha256:digest) instead of running func deploy
  --dry-run        print the rendered manifests and the commands; touch no cluster
  --no-wait        do not wait for the Services to become ready
  -h, --help       this text
USAGE
}

overlay=dev
image=""
dry_run=0
wait_ready=1
while [ $# -gt 0 ]; do
	case "$1" in
	--overlay) overlay="${2:?--overlay needs a name}"; shift 2 ;;
	--overlay=*) overlay="${1#*=}"; shift ;;
	--image) image="${2:?--image needs a reference}"; shift 2 ;;
	--image=*) image="${1#*=}"; shift ;;
	--dry-run) dry_run=1; shift ;;
	--no-wait) wait_ready=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

command -v go >/dev/null || { echo "deploy.sh: needs Go to render the manifests" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# go run caches the linked renderer in the build cache (Go 1.24+), so only
# the first call after a code change pays for linking.
render() { go run ./infra/knative/render -overlay "$overlay" "$@"; }

ns="$(render -print namespace)"
if [ -z "$ns" ]; then
	echo "deploy.sh: overlay $overlay sets no namespace" >&2
	exit 1
fi
# Objects the function Services need before they start: the namespace,
# its ServiceAccount and configuration, and the broker with the
# SinkBinding, so that even the first revision of each Service gets K_SINK.
foundation="Namespace,ServiceAccount,ConfigMap,Broker,SinkBinding"

if [ "$dry_run" = 1 ]; then
	# Validate the whole set first (render checks it against the code).
	render ${image:+-image "$image"} >"$tmp/all.yaml"
	{
		echo "# deploy.sh --dry-run: overlay $overlay, namespace $ns; no cluster is touched."
		echo "# It would run, in order:"
		echo "#   1. kubectl apply -f -   (the $foundation objects below)"
		echo "#   2. kubectl get secret $(printf %s veil-secrets) -n $ns   (must exist; see docs/deploying.md)"
		if [ -z "$image" ]; then
			echo "#   3. func deploy --path $root --namespace $ns   (build, push, Service veil; digest read from func.yaml deploy.image)"
			echo "#      The image below is the placeholder 'veil' until func deploy gives the digest."
		else
			echo "#   3. (skipped: --image $image)"
		fi
		echo "#   4. kubectl apply -f -   (all objects below)"
		[ "$wait_ready" = 1 ] && echo "#   5. kubectl wait --for=condition=Ready ksvc,broker,trigger -l app.kubernetes.io/part-of=veil -n $ns"
	} >&2
	cat "$tmp/all.yaml"
	exit 0
fi

need() { command -v "$1" >/dev/null || { echo "deploy.sh: needs $1 ($2)" >&2; exit 1; }; }
need kubectl "to apply the manifests"
[ -n "$image" ] || need func "to build and push the image; or pass --image"

# Refuse early, with the reason, when the cluster lacks what the manifests use.
crds="services.serving.knative.dev brokers.eventing.knative.dev triggers.eventing.knative.dev pingsources.sources.knative.dev sinkbindings.sources.knative.dev eventtransforms.eventing.knative.dev"
render >"$tmp/all.yaml"
if grep -q '^kind: KafkaSink' "$tmp/all.yaml"; then
	crds="$crds kafkasinks.eventing.knative.dev"
fi
for crd in $crds; do
	kubectl get crd "$crd" >/dev/null 2>&1 || {
		echo "deploy.sh: the cluster has no $crd; install Knative Serving and Eventing (1.17 or later; the Kafka broker and sink for production-cn) first" >&2
		exit 1
	}
done

echo "deploy.sh: [1/5] namespace $ns, configuration, broker and SinkBinding" >&2
render -kinds "$foundation" | kubectl apply -f -

echo "deploy.sh: [2/5] secret veil-secrets" >&2
if ! kubectl get secret veil-secrets -n "$ns" >/dev/null 2>&1; then
	cat >&2 <<MSG
deploy.sh: the Secret veil-secrets is missing in namespace $ns. Create it once (keep the values: the
master key decrypts every subject's data key):
  kubectl create secret generic veil-secrets -n $ns \\
    --from-literal=VEIL_OPS_TOKEN="\$(openssl rand -hex 32)" \\
    --from-literal=VEIL_MASTER_KEY="\$(openssl rand -base64 32)"
MSG
	exit 1
fi

if [ -z "$image" ]; then
	echo "deploy.sh: [3/5] func deploy (build, push, Service veil)" >&2
	func deploy --path "$root" --namespace "$ns"
	image="$(render -print func-image)"
else
	echo "deploy.sh: [3/5] using --image $image" >&2
fi

echo "deploy.sh: [4/5] apply overlay $overlay with $image" >&2
render -image "$image" >"$tmp/all.yaml"
kubectl apply -f "$tmp/all.yaml"

if [ "$wait_ready" = 1 ]; then
	echo "deploy.sh: [5/5] waiting for Services, broker and Triggers to be ready" >&2
	kubectl wait --for=condition=Ready ksvc,broker,trigger -l app.kubernetes.io/part-of=veil -n "$ns" --timeout=10m
fi
echo "deploy.sh: done: overlay $overlay in namespace $ns runs $image" >&2
