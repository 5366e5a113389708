#!/usr/bin/env bash
# Install the tools the deployment tests (tests/deploy) validate with, into .local/tools/.
#
#   deploy/tools/install.sh            install what is missing (idempotent; a second run does nothing)
#   deploy/tools/install.sh --print    print the tool directory and exit
#
# Everything comes from package registries through their ordinary clients, pinned below:
#   kustomize                 `go install` through the Go module proxy       -> bin/kustomize
#   kubernetes-validate       pip (PyPI): bundled Kubernetes OpenAPI schemas -> python/
#   Compose Specification     schema/compose-spec.json of the Go module github.com/compose-spec/compose-go/v2
#                             (the schema `docker compose` itself validates with) -> schemas/compose-spec.json
#   Strimzi CRDs              io.strimzi:api + io.strimzi:crd-generator from Maven Central, run the way
#                             Strimzi's own build generates 04x-Crd-*.yaml    -> schemas/crds/strimzi-*.yaml
#   prometheus-operator, CloudNativePG, External Secrets CRDs
#                             the CRD YAMLs inside their Go modules (go mod download) -> schemas/crds/
#   promtool                  the Go module github.com/prometheus/prometheus (go mod download), built with
#                             its own go.mod as the main module: `go install pkg@version` refuses a
#                             module whose go.mod has replace/exclude directives, as Prometheus's does
#                                                                            -> bin/promtool
#   checkov                   pip (PyPI) into its own virtualenv (its dependencies must not meet the
#                             project's): the Kubernetes security linter    -> checkov/bin/checkov
# Each step writes a stamp named after its version, so bumping a version reinstalls just that tool.
# C360_TOOLS overrides the directory; PYTHON the interpreter whose version the tests run under.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${C360_TOOLS:-$ROOT/.local/tools}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

KUSTOMIZE_VERSION="v5.8.1"
KUBERNETES_VALIDATE_VERSION="1.33.1"
JSONSCHEMA_VERSION="4.25.1"
COMPOSE_GO_VERSION="v2.16.2"
STRIMZI_VERSION="0.45.0"
PROMETHEUS_OPERATOR_VERSION="v0.80.1"
CNPG_VERSION="v1.25.1"
EXTERNAL_SECRETS_VERSION="v0.14.4"
PROMETHEUS_VERSION="v0.305.1"   # the Go module's version of Prometheus 3.5.1 (LTS); go 1.23+
CHECKOV_VERSION="3.3.30"
GO_TOOLCHAIN_VERSION="1.24.5"   # only used when no `go` is on PATH

if [[ "${1:-}" == "--print" ]]; then echo "$TOOLS"; exit 0; fi

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$TOOLS/bin" "$TOOLS/schemas/crds" "$TOOLS/stamps"
# One installer at a time (parallel test workers may all call this script).
exec 9>"$TOOLS/.lock"
flock 9

stamped() { [[ -f "$TOOLS/stamps/$1" ]]; }
stamp() { rm -f "$TOOLS/stamps/${1%%@*}"@*; touch "$TOOLS/stamps/$1"; }

export GOPATH="$TOOLS/go" GOMODCACHE="$TOOLS/go/mod" GOCACHE="$TOOLS/go/cache" GOFLAGS="-mod=mod" GOTOOLCHAIN=local
export PATH="$PATH:/usr/local/go/bin"

ensure_go() {
  if command -v go >/dev/null 2>&1; then return; fi
  local dir="$TOOLS/go-toolchain"
  if [[ ! -x "$dir/bin/go" ]]; then
    # The toolchain is itself a Go module (golang.org/toolchain) on the module proxy.
    local proxy="${GOPROXY:-https://proxy.golang.org}"; proxy="${proxy%%,*}"
    local arch; arch="$(uname -m)"; case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
    say "downloading the Go $GO_TOOLCHAIN_VERSION toolchain from $proxy"
    local zip="$TOOLS/go-toolchain.zip"
    curl -fsSL -o "$zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$arch.zip"
    rm -rf "$TOOLS/go-toolchain.tmp"; mkdir -p "$TOOLS/go-toolchain.tmp"
    (cd "$TOOLS/go-toolchain.tmp" && "$PYTHON" -m zipfile -e "$zip" .)
    mv "$TOOLS/go-toolchain.tmp/golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$arch" "$dir"
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*; rm -rf "$TOOLS/go-toolchain.tmp" "$zip"
  fi
  export PATH="$dir/bin:$PATH" GOROOT="$dir"
}

go_module_dir() {  # go_module_dir <module>@<version>: download a module, print its directory
  ensure_go
  go mod download -json "$1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

install_kustomize() {
  stamped "kustomize@$KUSTOMIZE_VERSION" && [[ -x "$TOOLS/bin/kustomize" ]] && return
  ensure_go
  say "building kustomize $KUSTOMIZE_VERSION (go install, first time only: about a minute)"
  GOBIN="$TOOLS/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  stamp "kustomize@$KUSTOMIZE_VERSION"
}

install_python_validators() {
  local key="python@kubernetes-validate-$KUBERNETES_VALIDATE_VERSION-jsonschema-$JSONSCHEMA_VERSION"
  stamped "$key" && return
  [[ -x "$PYTHON" ]] || die "no Python at $PYTHON: run 'make install' first (or set PYTHON)"
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and jsonschema $JSONSCHEMA_VERSION (pip)"
  rm -rf "$TOOLS/python"
  "$PYTHON" -m pip install -q --disable-pip-version-check --target "$TOOLS/python" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "jsonschema==$JSONSCHEMA_VERSION"
  stamp "$key"
}

install_compose_schema() {
  stamped "compose-spec@$COMPOSE_GO_VERSION" && [[ -f "$TOOLS/schemas/compose-spec.json" ]] && return
  say "fetching the Compose Specification schema (compose-go $COMPOSE_GO_VERSION)"
  local dir; dir="$(go_module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION")"
  install -m 0644 "$dir/schema/compose-spec.json" "$TOOLS/schemas/compose-spec.json"
  echo "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION schema/compose-spec.json" \
    > "$TOOLS/schemas/compose-spec.source"
  stamp "compose-spec@$COMPOSE_GO_VERSION"
}

install_strimzi_crds() {
  stamped "strimzi@$STRIMZI_VERSION" && return
  command -v mvn >/dev/null || die "Maven is required (it also provisions the local Kafka broker)"
  command -v java >/dev/null || die "Java 17+ is required"
  say "generating the Strimzi $STRIMZI_VERSION CRDs from io.strimzi:api (Maven Central)"
  local work="$TOOLS/strimzi"
  rm -rf "$work"; mkdir -p "$work"
  cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.customer360.tools</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -f "$work/pom.xml" -Dmaven.repo.local="$TOOLS/m2" dependency:copy-dependencies \
    -DoutputDirectory="$work/libs"
  local crds="$TOOLS/schemas/crds"
  java -cp "$work/libs/*" io.strimzi.crdgenerator.CrdGenerator --yaml \
    --api-versions v1beta2 --storage-version v1beta2 \
    "io.strimzi.api.kafka.model.kafka.Kafka=$crds/strimzi-kafka.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$crds/strimzi-kafkanodepool.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$crds/strimzi-kafkatopic.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$crds/strimzi-kafkauser.yaml" 2>&1 | grep -v '^SLF4J' >&2 || true
  [[ -s "$crds/strimzi-kafka.yaml" && -s "$crds/strimzi-kafkatopic.yaml" ]] || die "Strimzi CRD generation failed"
  stamp "strimzi@$STRIMZI_VERSION"
}

install_module_crds() {  # install_module_crds <stamp> <module@version> <path inside module>...
  local key="$1" module="$2"; shift 2
  stamped "$key" && return
  say "fetching CRDs from $module"
  local dir; dir="$(go_module_dir "$module")"
  local path
  for path in "$@"; do install -m 0644 "$dir/$path" "$TOOLS/schemas/crds/$(basename "$path")"; done
  stamp "$key"
}

install_promtool() {
  stamped "promtool@$PROMETHEUS_VERSION-2" && [[ -x "$TOOLS/bin/promtool" ]] && return
  say "building promtool from github.com/prometheus/prometheus@$PROMETHEUS_VERSION (first time only: a few minutes)"
  local dir; dir="$(go_module_dir "github.com/prometheus/prometheus@$PROMETHEUS_VERSION")"
  # The module cache is read-only, so the build must not touch go.mod/go.sum (-mod=readonly); the
  # dependencies are the exact ones Prometheus's go.sum pins.
  # -buildvcs=false: the module cache may sit inside another git checkout (this one), whose commit
  # must not be stamped into promtool; the version is the module's.
  (cd "$dir" && GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
    -ldflags "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
    -o "$TOOLS/bin/promtool.tmp" ./cmd/promtool)
  mv "$TOOLS/bin/promtool.tmp" "$TOOLS/bin/promtool"
  stamp "promtool@$PROMETHEUS_VERSION-2"
}

install_checkov() {
  stamped "checkov@$CHECKOV_VERSION" && [[ -x "$TOOLS/checkov/bin/checkov" ]] && return
  [[ -x "$PYTHON" ]] || die "no Python at $PYTHON: run 'make install' first (or set PYTHON)"
  say "installing checkov $CHECKOV_VERSION (pip, own virtualenv)"
  rm -rf "$TOOLS/checkov"
  "$PYTHON" -m venv "$TOOLS/checkov"
  "$TOOLS/checkov/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  stamp "checkov@$CHECKOV_VERSION"
}

install_python_validators
install_kustomize
install_promtool
install_checkov
install_compose_schema
install_strimzi_crds
install_module_crds "prometheus-operator@$PROMETHEUS_OPERATOR_VERSION-2" \
  "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml \
  example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml \
  example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml
install_module_crds "cloudnative-pg@$CNPG_VERSION" "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION" \
  config/crd/bases/postgresql.cnpg.io_clusters.yaml
install_module_crds "external-secrets@$EXTERNAL_SECRETS_VERSION" \
  "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION" \
  config/crds/bases/external-secrets.io_externalsecrets.yaml
