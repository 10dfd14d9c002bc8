#!/usr/bin/env bash
# Validate the ops artifacts (ops/k8s, ops/prometheus, ops/grafana,
# ops/systemd, ops/docker) with the real tools where they are installed.
#
#   ops/validate.sh [--worker BIN] [--keep]
#
#   --worker BIN  vigil-worker to take /metrics and --check-config from
#                 (default: $VIGIL_WORKER_BIN, else build/vigil-worker);
#                 vigilctl is looked for beside it
#   --keep        keep the scratch folder (printed at the end)
#
# Every check prints PASS, FAIL or SKIPPED (with the missing tool); a check
# whose tool is missing is never counted as passed. Exit: 0 if every check
# that ran passed, 1 if one failed, 77 if none could run (ctest: skipped).
# The last line reads "N passed, N failed, N skipped".
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
WORKER="${VIGIL_WORKER_BIN:-$REPO/build/vigil-worker}"
KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --worker) [[ $# -ge 2 ]] || { echo "validate: --worker needs a path" >&2; exit 2; }
              WORKER="$2"; shift 2 ;;
    --keep)   KEEP=1; shift ;;
    -h|--help) sed -n '5,11s/^#   //p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    *) echo "validate: unexpected argument '$1'" >&2; exit 2 ;;
  esac
done
VIGILCTL="$(dirname "$WORKER")/vigilctl"

K8S="$REPO/ops/k8s"
PROM="$REPO/ops/prometheus"
DASH="$REPO/ops/grafana/vigil.json"
UNIT="$REPO/ops/systemd/vigil-worker.service"
DOCKERFILE="$REPO/ops/docker/Dockerfile"

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/vigil-validate.XXXXXX")"
cleanup() {
  if ((KEEP)); then echo "validate: scratch kept in $SCRATCH"; else rm -rf -- "$SCRATCH"; fi
}
trap cleanup EXIT

PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=() SKIPPED_NAMES=()

# check NAME FUNCTION: run FUNCTION in a subshell with its output in a log.
# It exits 0 (pass), 77 (skipped: its last output line says why) or
# anything else (fail: its output is shown). A check that starts servers
# stops them in its own EXIT trap.
check() {
  local name="$1" fn="$2" log="$SCRATCH/log.$1" rc
  ( "$fn" ) >"$log" 2>&1 </dev/null
  rc=$?
  if ((rc == 0)); then
    PASSED=$((PASSED + 1))
    printf 'PASS     %-22s %s\n' "$name" "$(tail -n1 "$log")"
  elif ((rc == 77)); then
    SKIPPED=$((SKIPPED + 1)); SKIPPED_NAMES+=("$name")
    printf 'SKIPPED  %-22s %s\n' "$name" "$(tail -n1 "$log")"
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name")
    printf 'FAIL     %-22s (exit %d)\n' "$name" "$rc"
    sed 's/^/    /' "$log"
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }
skip() { echo "$*"; exit 77; }   # only inside a check's subshell

# A Python with PyYAML: the checks that read YAML need one.
PY=""
for p in python3 /usr/bin/python3; do
  if have "$p" && "$p" -c 'import yaml' 2>/dev/null; then PY="$p"; break; fi
done

# kustomize: standalone, or the one built into kubectl.
KUSTOMIZE=()
if have kustomize; then KUSTOMIZE=(kustomize build)
elif have kubectl; then KUSTOMIZE=(kubectl kustomize)
fi

free_port() {
  "${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- model ----------------------------------------------------------------
check_model_copy() {
  cmp "$REPO/workers/models/default.yaml" "$K8S/base/model/model.yaml" || {
    echo "ops/k8s/base/model/model.yaml differs from workers/models/default.yaml;"
    echo "refresh it: cp workers/models/default.yaml ops/k8s/base/model/model.yaml"
    return 1
  }
  echo "ops/k8s/base/model/model.yaml is workers/models/default.yaml byte for byte"
}

check_model_valid() {
  [[ -x "$VIGILCTL" ]] || skip "no vigilctl at $VIGILCTL"
  # `vigilctl model check` is newer than some builds: tell "no such
  # command" (skip) from "bad model" (fail).
  local usage
  usage="$("$VIGILCTL" 2>&1)"   # exits 2 with its usage
  grep -q 'model check' <<<"$usage" || skip "this vigilctl has no 'model check' command"
  "$VIGILCTL" model check "$K8S/base/model/model.yaml" >"$SCRATCH/model-check.txt" || {
    cat "$SCRATCH/model-check.txt"; return 1; }
  echo "vigilctl model check: $(head -n1 "$SCRATCH/model-check.txt")"
}

# --- YAML -----------------------------------------------------------------
check_yaml_parse() {
  [[ -n "$PY" ]] || skip "no python3 with PyYAML"
  mapfile -t files < <(find "$REPO/ops/k8s" "$REPO/ops/prometheus" -name '*.yaml' -o -name '*.yml' | sort)
  "$PY" - "${files[@]}" <<'EOF' || return 1
import sys, yaml
bad = 0
for f in sys.argv[1:]:
    try:
        list(yaml.safe_load_all(open(f)))
    except yaml.YAMLError as e:
        print(f"{f}: {e}"); bad += 1
print(f"{len(sys.argv) - 1} YAML files parse")
sys.exit(1 if bad else 0)
EOF
}

# --- Kubernetes -----------------------------------------------------------
check_kustomize() {
  ((${#KUSTOMIZE[@]})) || skip "neither kustomize nor kubectl installed"
  local d n=0
  for d in "$K8S/base" "$K8S"/overlays/*/; do
    d="${d%/}"
    "${KUSTOMIZE[@]}" "$d" >"$SCRATCH/k8s.$(basename "$d").yaml" || { echo "kustomize build $d failed"; return 1; }
    n=$((n + 1))
  done
  echo "${KUSTOMIZE[*]}: $n builds (base + overlays)"
}

# The rules the manifests must keep, on the built output of every build.
check_k8s_policy() {
  [[ -n "$PY" ]] || skip "no python3 with PyYAML"
  compgen -G "$SCRATCH/k8s.*.yaml" >/dev/null || skip "nothing built (kustomize check skipped)"
  "$PY" - "$K8S/base/config/worker.yaml" "$SCRATCH"/k8s.*.yaml <<'EOF'
import sys, yaml

worker_yaml, builds = sys.argv[1], sys.argv[2:]
cfg = yaml.safe_load(open(worker_yaml))
errors = []

def err(build, msg):
    errors.append(f"{build.rsplit('/', 1)[-1]}: {msg}")

# Only in the env ConfigMap (KEDA reads them from the container env).
for k in ("kafka.bootstrap.servers", "group.id", "topic.events"):
    if k in cfg:
        errors.append(f"worker.yaml sets {k}: it belongs in the vigil-worker-env ConfigMap only")

drain_s = int(cfg.get("shutdown.drain_timeout_ms", 30000)) / 1000
txn_s = int(cfg.get("delivery.txn_timeout_ms", 30000)) / 1000
redis_s = int(cfg.get("redis.timeout_ms", 2000)) / 1000
worst_stop = txn_s + 2 * redis_s + drain_s

for build in builds:
    docs = [d for d in yaml.safe_load_all(open(build)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        err(build, f"{len(deps)} Deployments, want 1"); continue
    dep = deps[0]
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    sel = dep["spec"]["selector"]["matchLabels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        err(build, "Deployment selector does not match its pod labels")
    if "replicas" in dep["spec"]:
        err(build, "Deployment sets replicas: the ScaledObject owns the count")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= worst_stop:
        err(build, f"terminationGracePeriodSeconds {grace} <= txn {txn_s}s + 2 x redis {redis_s}s + drain {drain_s}s")
    psc = pod.get("securityContext", {})
    if not psc.get("runAsNonRoot") or not psc.get("runAsUser"):
        err(build, "pod securityContext must set runAsNonRoot and a numeric runAsUser")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        err(build, "pod securityContext must set seccompProfile RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        err(build, "automountServiceAccountToken must be false (the worker never calls the API)")
    env_names = set()
    for c in pod["containers"]:
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False or not csc.get("readOnlyRootFilesystem") \
                or "ALL" not in csc.get("capabilities", {}).get("drop", []):
            err(build, f"container {c['name']}: needs allowPrivilegeEscalation false, readOnlyRootFilesystem, drop ALL")
        probes = {p: c.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe")}
        if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
            err(build, f"container {c['name']}: probes must be /healthz (liveness) and /readyz (readiness), got {probes}")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part, {})):
                err(build, f"container {c['name']}: resources.{part} needs cpu and memory")
        for e in c.get("env", []):
            env_names.add(e["name"])
            if "value" in e and any(s in e["name"] for s in ("PASSWORD", "KEY", "SECRET")):
                err(build, f"{e['name']} has a literal value: secrets come from a Secret")
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef", {}).get("name")
            if ref:
                if ref not in cms:
                    err(build, f"envFrom ConfigMap {ref} is not in the build")
                else:
                    env_names |= set(cms[ref].get("data", {}))
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for v in vols.values():
        if "configMap" in v and v["configMap"]["name"] not in cms:
            err(build, f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not in the build")
    if not any("secret" in v for v in vols.values()):
        err(build, "no Secret volume: redis-password and pseudonym-key come as files")
    if not any("worker.yaml" in cm.get("data", {}) for cm in cms.values()):
        err(build, "no ConfigMap holds worker.yaml")
    if not any("model.yaml" in cm.get("data", {}) for cm in cms.values()):
        err(build, "no ConfigMap holds model.yaml")
    for kind in ("PodDisruptionBudget", "Service"):
        for o in by_kind.get(kind, []):
            s = o["spec"]["selector"]
            s = s.get("matchLabels", s)
            if any(labels.get(k) != v for k, v in s.items()):
                err(build, f"{kind} {o['metadata']['name']} selects no worker pod")
        if not by_kind.get(kind):
            err(build, f"no {kind}")
    sos = by_kind.get("ScaledObject", [])
    if len(sos) != 1:
        err(build, f"{len(sos)} ScaledObjects, want 1"); continue
    so = sos[0]
    parts = so["metadata"].get("annotations", {}).get("vigil.dev/events-partitions")
    mx = so["spec"].get("maxReplicaCount")
    if parts is None or mx is None or int(mx) > int(parts):
        err(build, f"ScaledObject maxReplicaCount {mx} must be set and <= vigil.dev/events-partitions {parts}")
    if so["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
        err(build, "ScaledObject targets another Deployment")
    for t in so["spec"]["triggers"]:
        if t["type"] != "kafka":
            continue
        md = t["metadata"]
        for k in ("bootstrapServers", "consumerGroup", "topic"):
            env = md.get(k + "FromEnv")
            if not env:
                err(build, f"kafka trigger: {k}FromEnv must name the worker's variable")
            elif env not in env_names:
                err(build, f"kafka trigger: {k}FromEnv {env} is not in the container's environment")
        if md.get("offsetResetPolicy") != "earliest":
            err(build, "kafka trigger: offsetResetPolicy must be earliest, as the worker's auto.offset.reset")
        if md.get("allowIdleConsumers", "false") != "false":
            err(build, "kafka trigger: allowIdleConsumers must stay false")
        ref = t.get("authenticationRef", {}).get("name")
        if ref and ref not in {o["metadata"]["name"] for o in by_kind.get("TriggerAuthentication", [])}:
            err(build, f"kafka trigger: TriggerAuthentication {ref} is not in the build")

for e in errors:
    print(e)
if not errors:
    print(f"{len(builds)} builds: probes, securityContext, resources, grace period > {worst_stop:.0f}s, "
          f"ConfigMaps, Secret files, PDB/Service selectors, ScaledObject partition cap and *FromEnv")
sys.exit(1 if errors else 0)
EOF
}

# Strict schema validation of the core kinds (Deployment, Service, PDB,
# ConfigMap) against Kubernetes' own OpenAPI-derived JSON schemas, offline:
# kubernetes-validate (PyPI, installed by ops/setup.sh into the cache venv).
# KEDA's kinds have no schema there; k8s-policy checks what they must hold.
check_k8s_schema() {
  local kv="" v
  for kv in "${VIGIL_CACHE:-$HOME/.cache/vigil}/venv/bin/kubernetes-validate" "$(command -v kubernetes-validate)"; do
    [[ -n "$kv" && -x "$kv" ]] && break
    kv=""
  done
  [[ -n "$kv" ]] || skip "kubernetes-validate not installed (ops/setup.sh puts it in ~/.cache/vigil/venv)"
  compgen -G "$SCRATCH/k8s.*.yaml" >/dev/null || skip "nothing built (kustomize check skipped)"
  # The oldest and the newest Kubernetes its schemas cover.
  for v in 1.28.0 1.37.0; do
    "$kv" --strict --quiet --no-warn -k "$v" "$SCRATCH"/k8s.*.yaml || { echo "schema errors for Kubernetes $v"; exit 1; }
  done
  echo "strict schemas of Kubernetes 1.28 and 1.37: $(grep -c '^kind:' "$SCRATCH"/k8s.*.yaml | awk -F: '{n+=$2} END {print n}') objects (KEDA kinds: no schema, see k8s-policy)"
}

check_kubeconform() {
  have kubeconform || skip "kubeconform not installed (and its schemas need the network)"
  [[ -n "${VIGIL_KUBECONFORM_SCHEMAS:-}" ]] || skip "kubeconform: no offline schemas (set VIGIL_KUBECONFORM_SCHEMAS)"
  kubeconform -strict -summary -schema-location "$VIGIL_KUBECONFORM_SCHEMAS" "$SCRATCH"/k8s.*.yaml
}

# The config file as the pod sees it, through the worker's own loader.
check_worker_config() {
  [[ -x "$WORKER" ]] || skip "no vigil-worker at $WORKER"
  [[ -n "$PY" ]] || skip "no python3 with PyYAML"
  compgen -G "$SCRATCH/k8s.*.yaml" >/dev/null || skip "nothing built (kustomize check skipped)"
  local b d n=0 envs
  printf 'redis-password-for-validate\n' >"$SCRATCH/redis-password"
  printf 'pseudonym-key-for-validate-0123456789\n' >"$SCRATCH/pseudonym-key"
  for b in "$SCRATCH"/k8s.*.yaml; do
    d="$SCRATCH/worker-config.$(basename "$b" .yaml)"
    mkdir -p "$d"
    # What the container gets: worker.yaml from its ConfigMap, the
    # environment from the env ConfigMap and the Deployment (Secret
    # references as placeholders, the downward API as a fixed name).
    "$PY" - "$b" "$d" <<'EOF' || return 1
import sys, yaml
docs = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]
cms = {x["metadata"]["name"]: x.get("data", {}) for x in docs if x["kind"] == "ConfigMap"}
dep = next(x for x in docs if x["kind"] == "Deployment")
c = dep["spec"]["template"]["spec"]["containers"][0]
env = {}
for ef in c.get("envFrom", []):
    env.update(cms.get(ef.get("configMapRef", {}).get("name"), {}))
for e in c.get("env", []):
    if "value" in e:
        env[e["name"]] = e["value"]
    elif "secretKeyRef" in e.get("valueFrom", {}):
        env[e["name"]] = "secret-for-validate-" + e["valueFrom"]["secretKeyRef"]["key"]
    else:
        env[e["name"]] = "validate"
wy = next(d["worker.yaml"] for d in cms.values() if "worker.yaml" in d)
open(sys.argv[2] + "/worker.yaml", "w").write(wy)
open(sys.argv[2] + "/env", "w").write("".join(f"{k}={v}\n" for k, v in env.items()))
EOF
    sed -i -e "s#/etc/vigil/secrets/#$SCRATCH/#" -e "s#/etc/vigil/model/#$K8S/base/model/#" "$d/worker.yaml"
    mapfile -t envs <"$d/env"
    env -i PATH="$PATH" "${envs[@]}" "$WORKER" --config "$d/worker.yaml" --check-config \
      >"$d/effective.txt" || { echo "$(basename "$b"): refused by the worker"; return 1; }
    # A username from a Secret may show; a password or key never.
    if grep -E '(password|key|secret)[a-z_.]* = .*-for-validate' "$d/effective.txt"; then
      echo "$(basename "$b"): --check-config printed a secret"; return 1
    fi
    n=$((n + 1))
  done
  echo "vigil-worker --check-config accepts the config and environment of $n builds; no secret printed"
}

# --- Prometheus -----------------------------------------------------------
check_promtool_rules() {
  have promtool || skip "promtool not installed (Debian package prometheus)"
  promtool check rules "$PROM/alerts.yml" || exit 1
  echo "promtool check rules: $(grep -c '^ *- alert:' "$PROM/alerts.yml") alerts"
}

check_promtool_tests() {
  have promtool || skip "promtool not installed (Debian package prometheus)"
  (cd "$PROM" && promtool test rules alerts.test.yml) || exit 1
  echo "promtool test rules: $(grep -c '^ *- interval:' "$PROM/alerts.test.yml") test groups, $(grep -c 'alertname:' "$PROM/alerts.test.yml") evaluations"
}

check_promtool_config() {
  have promtool || skip "promtool not installed (Debian package prometheus)"
  (cd "$PROM" && promtool check config prometheus.yml) || exit 1
  echo "promtool check config: prometheus.yml (job vigil-worker, rule_files alerts.yml)"
}

# Every alert has its section in docs/runbook.md, and its runbook_url
# anchor is that section's.
check_runbook() {
  [[ -n "$PY" ]] || skip "no python3 with PyYAML"
  "$PY" - "$PROM/alerts.yml" "$REPO/docs/runbook.md" <<'EOF'
import re, sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.*)$", open(sys.argv[2]).read(), re.M)}
bad = 0
for r in rules:
    url = r.get("annotations", {}).get("runbook_url", "")
    want = r["alert"].lower()
    if want not in anchors:
        print(f"{r['alert']}: no section '### {r['alert']}' in docs/runbook.md"); bad += 1
    if url != f"docs/runbook.md#{want}":
        print(f"{r['alert']}: runbook_url {url!r} should be docs/runbook.md#{want}"); bad += 1
print(f"{len(rules)} alerts, each with its docs/runbook.md section")
sys.exit(1 if bad else 0)
EOF
}

# --- Grafana --------------------------------------------------------------
# JSON, the fields Grafana needs, and every panel query parsed as PromQL by
# promtool (as the expression of a recording rule).
check_dashboard() {
  local py="${PY:-python3}"
  have "$py" || skip "no python3"
  "$py" - "$DASH" "$SCRATCH/dashboard-rules.yml" <<'EOF' || return 1
import json, sys
d = json.load(open(sys.argv[1]))
errors, exprs, ids = [], [], set()
for k in ("uid", "title", "panels", "schemaVersion"):
    if k not in d:
        errors.append(f"missing {k}")
for p in d.get("panels", []):
    if p["id"] in ids:
        errors.append(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    if not p.get("targets"):
        errors.append(f"panel {p['title']!r} has no query")
    for t in p.get("targets", []):
        exprs.append(t["expr"])
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        f.write(f"      - record: dashboard_expr_{i}\n        expr: {json.dumps(e)}\n")
for e in errors:
    print(e)
print(f"{len(d.get('panels', []))} panels, {len(exprs)} queries")
sys.exit(1 if errors else 0)
EOF
  if have promtool; then
    promtool check rules "$SCRATCH/dashboard-rules.yml" >"$SCRATCH/dashboard-promql.log" 2>&1 || {
      cat "$SCRATCH/dashboard-promql.log"; return 1; }
    echo "valid JSON; every panel query is valid PromQL (promtool)"
  else
    echo "valid JSON (PromQL not parsed: no promtool)"
  fi
}

# --- metric names against a live worker -------------------------------------
# Start a worker (embedded Kafka, a scratch redis-server), read /metrics,
# lint it with promtool, and require every vigil_* name used by the alerts
# and the dashboard to be exported.
check_metric_names() {
  [[ -x "$WORKER" ]] || skip "no vigil-worker at $WORKER"
  have redis-server || skip "redis-server not installed"
  have curl || skip "curl not installed"
  local rport hport i
  rport="$(free_port)" hport="$(free_port)"
  # Stopped by pid when this check's subshell exits, whatever the outcome.
  # (VG_PIDS is not local: the trap runs after the function has returned.)
  VG_PIDS=()
  trap 'for p in "${VG_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done' EXIT
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$SCRATCH" >"$SCRATCH/redis.log" 2>&1 &
  VG_PIDS+=($!)
  # The worker refuses to start without Redis: wait for its port.
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break
    sleep 0.05
  done
  "$WORKER" --embedded-kafka --set redis.port="$rport" --set http.port="$hport" \
    --set http.bind=127.0.0.1 --set worker.id=validate \
    --set pseudonym.key=validate-pseudonym-key-0123456789 >"$SCRATCH/worker.log" 2>&1 &
  VG_PIDS+=($!)
  for ((i = 0; i < 100; i++)); do
    curl -fsS "http://127.0.0.1:$hport/metrics" -o "$SCRATCH/metrics.txt" 2>/dev/null && break
    sleep 0.1
  done
  [[ -s "$SCRATCH/metrics.txt" ]] || { echo "no /metrics from the worker"; tail -n 20 "$SCRATCH/worker.log"; return 1; }
  for p in /healthz /readyz; do
    curl -fsS "http://127.0.0.1:$hport$p" >/dev/null || { echo "$p did not answer 200"; return 1; }
  done
  if have promtool; then
    promtool check metrics <"$SCRATCH/metrics.txt" || { echo "promtool check metrics: lint problems above"; return 1; }
  fi
  "${PY:-python3}" - "$SCRATCH/metrics.txt" "$PROM/alerts.yml" "$DASH" <<'EOF'
import re, sys
exported = set()
for line in open(sys.argv[1]):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        exported.add(m.group(1))
        if m.group(2) in ("histogram", "summary"):
            exported |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
bad = 0
for f in sys.argv[2:]:
    used = set(re.findall(r"\bvigil_[a-z0-9_]+", open(f).read()))
    missing = sorted(used - exported)
    for u in missing:
        print(f"{f}: {u} is not exported by the worker")
    bad += len(missing)
    print(f"{f.rsplit('/', 1)[-1]}: {len(used)} vigil_* names, {len(missing)} not exported")
sys.exit(1 if bad else 0)
EOF
  local rc=$?
  ((rc == 0)) && echo "alerts and dashboard use only exported names ($(grep -c '^# TYPE' "$SCRATCH/metrics.txt") metric families; promtool check metrics clean)"
  return $rc
}

# --- systemd ----------------------------------------------------------------
check_systemd() {
  have systemd-analyze || skip "systemd-analyze not installed"
  local unit="$SCRATCH/systemd/vigil-worker.service" bin="$WORKER"
  [[ -x "$bin" ]] || bin=/bin/true
  mkdir -p "$SCRATCH/systemd"
  # verify wants the ExecStart binary to exist: point it at the one we have.
  sed "s#/usr/local/bin/vigil-worker#$bin#" "$UNIT" >"$unit"
  systemd-analyze verify "$unit" || return 1
  # Exposure 0 (locked down) .. 10 (unprotected); keep it "OK" (< 3).
  systemd-analyze security --offline=yes --threshold=30 "$unit" >"$SCRATCH/systemd-security.txt" 2>&1 || {
    tail -n 5 "$SCRATCH/systemd-security.txt"; echo "exposure above 3.0"; return 1; }
  grep -q '^User=\|^DynamicUser=yes' "$UNIT" || { echo "the unit must not run as root"; return 1; }
  echo "systemd-analyze verify clean; $(grep -o 'Overall exposure level.*' "$SCRATCH/systemd-security.txt")"
}

# --- Docker -----------------------------------------------------------------
check_dockerfile_lint() {
  local py="${PY:-python3}"
  have "$py" || skip "no python3"
  "$py" - "$DOCKERFILE" "$REPO" <<'EOF' || return 1
import os, re, shlex, sys
path, repo = sys.argv[1], sys.argv[2]
known = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
lines, cur = [], ""
for raw in open(path):
    s = raw.rstrip("\n")
    if not cur and (not s.strip() or s.lstrip().startswith("#")):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
errors, stages, args, user, last_entry = [], [], {}, None, None
for l in lines:
    instr, _, rest = l.strip().partition(" ")
    instr = instr.upper()
    if instr not in known:
        errors.append(f"unknown instruction {instr}")
        continue
    if instr == "ARG" and not stages:
        k, _, v = rest.partition("=")
        args[k.strip()] = v.strip()
    elif instr == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest.strip(), re.I)
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), m.group(1))
        if ":" not in image or image.endswith(":latest"):
            errors.append(f"FROM {image}: pin a tag")
        stages.append(m.group(2))
        user = None
    elif instr == "RUN" and "apt-get install" in rest:
        if "--no-install-recommends" not in rest:
            errors.append("apt-get install without --no-install-recommends")
        if "rm -rf /var/lib/apt/lists" not in rest:
            errors.append("apt-get install without removing /var/lib/apt/lists")
        if "apt-get update" not in rest:
            errors.append("apt-get install in a RUN without apt-get update")
    elif instr == "COPY":
        toks = shlex.split(rest)
        opts = [t for t in toks if t.startswith("--")]
        srcs = [t for t in toks if not t.startswith("--")][:-1]
        frm = [o.split("=", 1)[1] for o in opts if o.startswith("--from=")]
        if frm:
            if frm[0] not in stages[:-1]:
                errors.append(f"COPY --from={frm[0]}: no earlier stage of that name")
        else:
            for s in srcs:
                if not os.path.exists(os.path.join(repo, s)):
                    errors.append(f"COPY {s}: not in the repository")
    elif instr == "USER":
        user = rest.strip()
    elif instr == "ENTRYPOINT":
        last_entry = rest.strip()
if len(stages) < 2:
    errors.append("not multi-stage")
if user is None or user.split(":")[0] in ("root", "0"):
    errors.append(f"the final stage runs as {user or 'root'}: needs a non-root USER")
elif not user.split(":")[0].isdigit():
    errors.append(f"USER {user}: use a numeric uid (runAsNonRoot checks it)")
if not (last_entry or "").startswith("["):
    errors.append("ENTRYPOINT must be exec form (the worker must be PID 1 for SIGTERM/SIGHUP)")
for e in errors:
    print(e)
print(f"{len(lines)} instructions, {len(stages)} stages, final USER {user}")
sys.exit(1 if errors else 0)
EOF
}

# The build stage's COPY set alone configures (no stray dependency on
# tests/, docs/ or ops/).
check_dockerfile_sources() {
  have cmake || skip "cmake not installed"
  local ctx="$SCRATCH/docker-context" src
  mkdir -p "$ctx"
  for src in $(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$DOCKERFILE" | sort -u); do
    [[ "$src" == workers/models/* ]] && continue   # runtime stage, already covered by workers/
    cp -r "$REPO/${src%/}" "$ctx/" || return 1
  done
  cmake -S "$ctx" -B "$ctx/build" -DCMAKE_BUILD_TYPE=Release -DVIGIL_TESTS=OFF \
    -DVIGIL_BENCHMARKS=OFF >"$SCRATCH/docker-cmake.log" 2>&1 || {
    tail -n 20 "$SCRATCH/docker-cmake.log"; return 1; }
  echo "the build stage's COPY set configures on its own (cmake, tests and benchmarks off)"
}

# The build stage installs every -dev package CMakeLists.txt asks for:
# the owner of each pkg-config module, of protoc-c and of OpenSSL's headers.
check_dockerfile_build_deps() {
  have pkg-config || skip "pkg-config not installed"
  have dpkg-query || skip "not a Debian system (dpkg-query)"
  local build mod pc owner missing=0 n=0 f
  build="$(awk '/^FROM .* AS build/{b=1} /^FROM .* AS runtime/{b=0} b' "$DOCKERFILE" | tr '\\' ' ' |
    sed -n '/apt-get install/,/rm -rf/p' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)"
  want() {   # want WHAT FILE
    owner="$(dpkg-query -S "$2" 2>/dev/null || dpkg-query -S "${2/#\/usr\/lib/\/lib}" 2>/dev/null || true)"
    owner="${owner%%:*}"
    n=$((n + 1))
    if [[ -z "$owner" ]]; then echo "$1: $2 belongs to no package"; missing=$((missing + 1))
    elif ! grep -qx "$owner" <<<"$build"; then echo "$1 needs $owner: not in the build stage"; missing=$((missing + 1))
    fi
  }
  for mod in $(sed -n 's/^pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^ )]*\)).*/\1/p' "$REPO/CMakeLists.txt"); do
    pc="$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null)/$mod.pc"
    want "pkg-config $mod" "$(readlink -f "$pc")"
  done
  f="$(command -v protoc-c)" && want protoc-c "$(readlink -f "$f")"
  want OpenSSL /usr/include/openssl/ssl.h
  ((missing == 0)) || exit 1
  echo "$n build dependencies of CMakeLists.txt all come from the build stage's packages"
}

# Every shared library the binaries load is in a runtime-stage package or
# one of their dependencies (or in the base image's essential set).
check_dockerfile_runtime_libs() {
  [[ -x "$WORKER" ]] || skip "no vigil-worker at $WORKER"
  have dpkg-query && have apt-cache || skip "not a Debian system (dpkg-query, apt-cache)"
  local runtime pkgs closure lib real pkg missing=0 n=0
  runtime="$(awk '/^FROM .* AS runtime/{r=1} r' "$DOCKERFILE" | tr '\\' ' ' |
    sed -n '/apt-get install/,/rm -rf/p' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    grep -vE '^(apt-get|install|rm|update|noninteractive)$' | sort -u)"
  [[ -n "$runtime" ]] || { echo "no runtime packages found in the Dockerfile"; return 1; }
  # shellcheck disable=SC2086
  closure="$( (echo "$runtime"
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $runtime 2>/dev/null | sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p' | tr -d '<>'
    dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' | awk '$2=="yes" || $3=="required" {print $1}'
  ) | sed 's/:.*//' | sort -u)"
  for bin in "$WORKER" "$VIGILCTL"; do
    [[ -x "$bin" ]] || continue
    while read -r lib; do
      real="$(readlink -f "$lib")"
      pkg="$(dpkg-query -S "$real" 2>/dev/null || dpkg-query -S "${real/#\/usr\/lib/\/lib}" 2>/dev/null || true)"
      pkg="${pkg%%:*}"
      [[ -n "$pkg" ]] || { echo "$lib: no package owns it"; missing=$((missing + 1)); continue; }
      n=$((n + 1))
      grep -qx "$pkg" <<<"$closure" || { echo "$(basename "$bin") needs $lib from $pkg: not in the runtime stage"; missing=$((missing + 1)); }
    done < <(ldd "$bin" | awk '$3 ~ /^\// {print $3}')
  done
  ((missing == 0)) || return 1
  echo "$n libraries of vigil-worker/vigilctl all come from the runtime packages ($(echo $runtime | wc -w) listed)"
}

check_docker_build() {
  have hadolint && { hadolint "$DOCKERFILE" || return 1; }
  have docker && docker info >/dev/null 2>&1 || skip "no Docker engine: the image is not built here${HADOLINT_NOTE:-}"
  DOCKER_BUILDKIT=1 docker build -f "$DOCKERFILE" -t vigil-worker:validate "$REPO" || return 1
  docker run --rm --entrypoint /usr/local/bin/vigil-worker vigil-worker:validate --config-doc >/dev/null || return 1
  [[ "$(docker run --rm --entrypoint id vigil-worker:validate -u)" != 0 ]] || { echo "image runs as root"; return 1; }
  echo "image built; runs as non-root"
}
have hadolint || HADOLINT_NOTE=" (hadolint not installed either)"

echo "validate: repo $REPO, worker ${WORKER}"
check model-copy             check_model_copy
check model-valid            check_model_valid
check yaml-parse             check_yaml_parse
check kustomize-build        check_kustomize
check k8s-policy             check_k8s_policy
check k8s-schema             check_k8s_schema
check kubeconform            check_kubeconform
check worker-config          check_worker_config
check promtool-rules         check_promtool_rules
check promtool-tests         check_promtool_tests
check promtool-config        check_promtool_config
check runbook                check_runbook
check dashboard              check_dashboard
check metric-names           check_metric_names
check systemd                check_systemd
check dockerfile-lint        check_dockerfile_lint
check dockerfile-sources     check_dockerfile_sources
check dockerfile-build-deps  check_dockerfile_build_deps
check dockerfile-runtime     check_dockerfile_runtime_libs
check docker-build           check_docker_build

((FAILED)) && echo "validate: failed: ${FAILED_NAMES[*]}"
((SKIPPED)) && echo "validate: skipped: ${SKIPPED_NAMES[*]}"
echo "validate: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED)) && exit 1
((PASSED)) || exit 77
exit 0
