#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document, on a live daemon: the shipped binary with
# the shipped config (deploy/linesight.toml: the synthetic camera, loopback) and real models,
# probed by schemathesis (PyPI) with valid and invalid data. Fails on any 5xx, any response
# that does not conform to the document, or a daemon that does not survive to a clean SIGTERM.
# Usage: scripts/check-api.sh MODELS_DIR [MAX_EXAMPLES]   (MODELS_DIR: stage1/stage2.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
models=${1:?usage: scripts/check-api.sh MODELS_DIR [MAX_EXAMPLES]}
examples=${2:-${API_EXAMPLES:-40}}
bin=${LINESIGHT_BIN:-.build/release/linesight}
[[ -x $bin ]] || bin=.build/debug/linesight
venv=.build/api-venv
if [[ ! -x $venv/bin/schemathesis ]] || ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis>=4,<5' 'prometheus-client>=0.20'
fi

dir=$(mktemp -d)
cleanup() { [[ -n ${pid:-} ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
# The shipped config with a bearer token, so the state-changing route is probed too.
# the token file and the operator screen on, so every route answers for real
sed -e 's|^# token_file = .*|token_file = "token"|' \
    -e '/^\[operator\]/,/^\[/ s|^enabled = false|enabled = true|' deploy/linesight.toml >"$dir/linesight.toml"
grep -q '^token_file = "token"' "$dir/linesight.toml" || { echo "check-api: deploy/linesight.toml has no token_file line to enable" >&2; exit 1; }
sed -n '/^\[operator\]/,/^\[/p' "$dir/linesight.toml" | grep -q '^enabled = true' \
    || { echo "check-api: deploy/linesight.toml has no [operator] enabled line to turn on" >&2; exit 1; }
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077 && printf '%s\n' "$token" >"$dir/token")
mkdir -p "$dir/linesight-data/models"
cp "$models/stage1.safetensors" "$models/stage2.safetensors" "$dir/linesight-data/models/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --config "$dir/linesight.toml" --listen "127.0.0.1:$port" --threads 1 >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.err" >&2; echo "check-api: the daemon did not start" >&2; exit 1; }
    sleep 0.2
done
# A kept frame, so /api/v1/frames/{file} and classify have real data among the generated.
sleep 3

set +e
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --checks all --mode all --max-examples "$examples" --seed 20261204 \
    --request-timeout 20 --no-color -H "Authorization: Bearer $token" >"$dir/schemathesis.out" 2>&1
rc=$?
set -e
cat "$dir/schemathesis.out"

# /metrics through the Prometheus project's own exposition parser (prometheus_client): every
# family parses, and the families a dashboard needs are there with the camera label.
curl -sf "http://127.0.0.1:$port/metrics" >"$dir/metrics.txt"
"$venv/bin/python" - "$dir/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
need = {"linesight_frames_received": "counter", "linesight_verdicts": "counter",
        "linesight_frame_latency_ms": "histogram", "linesight_store_pending": "gauge", "linesight_camera_up": "gauge"}
for name, kind in need.items():
    f = families.get(name)
    assert f is not None, f"/metrics lacks {name}"
    assert f.type == kind, f"{name} is a {f.type}, expected {kind}"
    assert any("camera" in s.labels for s in f.samples) or name == "linesight_store_pending", f"{name} has no camera label"
print(f"check-api: /metrics parsed by prometheus_client: {len(families)} families")
PY

alive=yes
kill -0 "$pid" 2>/dev/null || alive=no
if [[ $alive == yes ]]; then
    kill -TERM "$pid"
    wait "$pid"; status=$?
    pid=""
else
    wait "$pid"; status=$?
    pid=""
fi
if [[ $alive == no || $status -ne 0 ]]; then
    tail -30 "$dir/serve.err" >&2
    echo "check-api: the daemon died under the probes (alive=$alive, exit $status)" >&2
    exit 1
fi
if ((rc != 0)); then
    echo "check-api: schemathesis found responses that break the API document (exit $rc)" >&2
    exit 1
fi
echo "check-api: schemathesis passed against a live daemon ($examples examples per operation); the daemon exited 0 on SIGTERM"
