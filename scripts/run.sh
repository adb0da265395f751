#!/usr/bin/env bash
# Starts the whole stack on one machine: goaws (SNS/SQS emulator), provisioning,
# then ingest, encoder-dispatch, webhook-receiver and catalog as separate processes.
# Ctrl-C stops everything. Logs go to var/log/<service>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/bin
var=${PERTITLE_VAR_DIR:-$root/var}
mkdir -p "$var/log"

# Defaults `make run` uses; any of them can be overridden from the environment.
export PERTITLE_AWS_ENDPOINT=${PERTITLE_AWS_ENDPOINT-http://127.0.0.1:4100}
export PERTITLE_AWS_REGION=${PERTITLE_AWS_REGION:-us-east-1}
export PERTITLE_AWS_ACCOUNT_ID=${PERTITLE_AWS_ACCOUNT_ID:-000000000000}
export PERTITLE_STORAGE_DIR=${PERTITLE_STORAGE_DIR:-$var/storage}
export PERTITLE_CATALOG_DB=${PERTITLE_CATALOG_DB:-$var/catalog.db}
export PERTITLE_INGEST_DB=${PERTITLE_INGEST_DB:-$var/ingest.db}
# Shared state of replicas: set (a postgres:// URL), every service claims events, webhooks and
# S3 notifications there; unset, each keeps its claims in memory.
if [ -n "${PERTITLE_STATE_DB:-}" ]; then
  export PERTITLE_STATE_DB
  echo "note: PERTITLE_STATE_DB is set: idempotency claims go to that PostgreSQL database" >&2
fi
export PERTITLE_WORK_DIR=${PERTITLE_WORK_DIR:-$var/work}
export PERTITLE_CATALOG_ADDR=${PERTITLE_CATALOG_ADDR:-:8080}
export PERTITLE_INGEST_ADDR=${PERTITLE_INGEST_ADDR:-:8081}
export PERTITLE_WEBHOOK_ADDR=${PERTITLE_WEBHOOK_ADDR:-:8082}
# Ops listeners (/readyz with details, /metrics): on loopback only.
export PERTITLE_CATALOG_OPS_ADDR=${PERTITLE_CATALOG_OPS_ADDR:-127.0.0.1:9080}
export PERTITLE_INGEST_OPS_ADDR=${PERTITLE_INGEST_OPS_ADDR:-127.0.0.1:9081}
export PERTITLE_WEBHOOK_OPS_ADDR=${PERTITLE_WEBHOOK_OPS_ADDR:-127.0.0.1:9082}
export PERTITLE_DISPATCH_OPS_ADDR=${PERTITLE_DISPATCH_OPS_ADDR:-127.0.0.1:9083}
export PERTITLE_ISSUER_OPS_ADDR=${PERTITLE_ISSUER_OPS_ADDR:-127.0.0.1:9084}
export PERTITLE_MEDIA_BASE_URL=${PERTITLE_MEDIA_BASE_URL:-http://127.0.0.1:${PERTITLE_CATALOG_ADDR##*:}/media/}
export PERTITLE_WEBHOOK_URL=${PERTITLE_WEBHOOK_URL:-http://127.0.0.1:${PERTITLE_WEBHOOK_ADDR##*:}/webhooks/bitmovin}
export PERTITLE_CATALOG_URL=${PERTITLE_CATALOG_URL:-http://127.0.0.1:${PERTITLE_CATALOG_ADDR##*:}}
export PERTITLE_INGEST_URL=${PERTITLE_INGEST_URL:-http://127.0.0.1:${PERTITLE_INGEST_ADDR##*:}}
# Development mode: the services accept the published secrets below (and say so
# loudly in their logs). Outside this machine they refuse to start with them.
export PERTITLE_DEV_MODE=${PERTITLE_DEV_MODE:-1}
if [ "$PERTITLE_DEV_MODE" != 0 ] && [ "$PERTITLE_DEV_MODE" != false ]; then
  echo "warning: PERTITLE_DEV_MODE=$PERTITLE_DEV_MODE: development secrets are accepted; never expose this stack to the internet" >&2
fi
if [ -z "${PERTITLE_BITMOVIN_WEBHOOK_SECRET:-}" ]; then
  export PERTITLE_BITMOVIN_WEBHOOK_SECRET=local-dev-secret
  echo "warning: PERTITLE_BITMOVIN_WEBHOOK_SECRET is the published development secret; set your own outside this machine" >&2
fi

# Bitmovin backend (PERTITLE_ENCODER_BACKEND=bitmovin): without PERTITLE_BITMOVIN_API_URL the
# fake API (bin/fakebitmovin) is started and used; every PERTITLE_BITMOVIN_* variable is passed on.
export PERTITLE_ENCODER_BACKEND=${PERTITLE_ENCODER_BACKEND:-local}
fake_bitmovin=
if [ "$PERTITLE_ENCODER_BACKEND" = bitmovin ]; then
  if [ -z "${PERTITLE_BITMOVIN_API_URL:-}" ]; then
    fake_bitmovin=1
    export PERTITLE_FAKEBITMOVIN_ADDR=${PERTITLE_FAKEBITMOVIN_ADDR:-127.0.0.1:8090}
    export PERTITLE_BITMOVIN_API_URL=http://$PERTITLE_FAKEBITMOVIN_ADDR/v1
    export PERTITLE_BITMOVIN_API_KEY=${PERTITLE_BITMOVIN_API_KEY:-local-fake-key}
    export PERTITLE_BITMOVIN_INPUT_ID=${PERTITLE_BITMOVIN_INPUT_ID:-fake-input}
    export PERTITLE_BITMOVIN_OUTPUT_ID=${PERTITLE_BITMOVIN_OUTPUT_ID:-fake-output}
    echo "note: PERTITLE_BITMOVIN_API_URL is not set: using the fake Bitmovin API on $PERTITLE_FAKEBITMOVIN_ADDR (no media is produced)" >&2
  fi
  export PERTITLE_WEBHOOK_PUBLIC_URL=${PERTITLE_WEBHOOK_PUBLIC_URL:-$PERTITLE_WEBHOOK_URL}
fi
if [ -z "${PERTITLE_MEDIA_SIGNING_KEY:-}" ]; then
  # Kept in var/ so that playback URLs survive a restart of `make run`.
  [ -s "$var/media-signing.key" ] || (umask 077; head -c 32 /dev/urandom | base64 > "$var/media-signing.key")
  PERTITLE_MEDIA_SIGNING_KEY=$(cat "$var/media-signing.key")
  export PERTITLE_MEDIA_SIGNING_KEY
  echo "warning: PERTITLE_MEDIA_SIGNING_KEY is a key generated for this machine ($var/media-signing.key); set your own secret in production" >&2
fi
# Sign-in: every API takes an OIDC access token. Unless PERTITLE_OIDC_ISSUER names
# another provider (Cognito, Keycloak, Auth0), the local issuer runs on :8084 with
# the users of $PERTITLE_ISSUER_USERS (created with user demo, password demo).
local_issuer=""
if [ -z "${PERTITLE_OIDC_ISSUER:-}" ]; then
  local_issuer=1
  export PERTITLE_ISSUER_ADDR=${PERTITLE_ISSUER_ADDR:-127.0.0.1:8084}
  export PERTITLE_ISSUER_URL=${PERTITLE_ISSUER_URL:-http://127.0.0.1:${PERTITLE_ISSUER_ADDR##*:}}
  export PERTITLE_ISSUER_USERS=${PERTITLE_ISSUER_USERS:-$var/users.json}
  export PERTITLE_ISSUER_KEY=${PERTITLE_ISSUER_KEY:-$var/issuer-key.pem}
  export PERTITLE_ISSUER_DB=${PERTITLE_ISSUER_DB:-$var/issuer.db}
  export PERTITLE_OIDC_ISSUER=$PERTITLE_ISSUER_URL
fi
export PERTITLE_OIDC_AUDIENCE=${PERTITLE_OIDC_AUDIENCE:-pertitle}
if [ -n "$local_issuer" ] && [ ! -s "$PERTITLE_ISSUER_USERS" ]; then
  demo_user=${PERTITLE_DEMO_USER:-demo}
  printf '%s\n' "${PERTITLE_DEMO_PASSWORD:-demo}" | "$bin/issuer" add-user "$demo_user" >/dev/null
  if [ -z "${PERTITLE_DEMO_PASSWORD:-}" ]; then
    echo "warning: created the local user '$demo_user' with password 'demo' in $PERTITLE_ISSUER_USERS; add your own with bin/issuer add-user NAME (password on stdin)" >&2
  fi
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo ">> stopping"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

wait_http() { # url name log
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "!! $2 did not become ready; last lines of $3:" >&2; tail -n 20 "$3" >&2; exit 1
}

if [ -n "$PERTITLE_AWS_ENDPOINT" ]; then
  port=${PERTITLE_AWS_ENDPOINT##*:}
  cat > "$var/goaws.yaml" <<YAML
Local:
  Host: 127.0.0.1
  Port: "$port"
  Region: $PERTITLE_AWS_REGION
  AccountId: "$PERTITLE_AWS_ACCOUNT_ID"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 60
    ReceiveMessageWaitTimeSeconds: 20
  Queues: []
  Topics: []
YAML
  echo ">> starting goaws (SNS/SQS emulator) on :$port"
  "$bin/goaws" -config "$var/goaws.yaml" Local >"$var/log/goaws.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
fi

# PERTITLE_STORAGE=s3: a local S3-compatible server (internal/tools/s3server) with the
# input and output buckets, unless PERTITLE_S3_ENDPOINT points elsewhere (set it empty
# for AWS). It sends no bucket notifications: `bin/pertitle s3-notify KEY` stands in.
if [ "${PERTITLE_STORAGE:-fs}" = "s3" ]; then
  export PERTITLE_S3_INPUT_BUCKET=${PERTITLE_S3_INPUT_BUCKET:-pertitle-input}
  export PERTITLE_S3_OUTPUT_BUCKET=${PERTITLE_S3_OUTPUT_BUCKET:-pertitle-output}
  if [ -z "${PERTITLE_S3_ENDPOINT+x}" ]; then
    export PERTITLE_S3_ENDPOINT=http://127.0.0.1:4569
    echo ">> starting s3server (local S3) on :4569, data in $var/s3"
    "$bin/s3server" -addr 127.0.0.1:4569 -dir "$var/s3" \
      -buckets "$PERTITLE_S3_INPUT_BUCKET,$PERTITLE_S3_OUTPUT_BUCKET" >"$var/log/s3server.log" 2>&1 &
    pids+=($!)
    wait_http "$PERTITLE_S3_ENDPOINT/" s3server "$var/log/s3server.log"
  fi
fi

# The settings every service gets, for starting another replica by hand
# (README "Replicas"): set -a; . var/run.env; set +a; PERTITLE_CATALOG_ADDR=:8090 ... bin/catalog
(umask 077; export -p | grep -E '^declare -x (PERTITLE_|AWS_)' > "$var/run.env") || true

echo ">> provisioning topics, queues, dead-letter queues and subscriptions"
PERTITLE_LOG_LEVEL=warn "$bin/pertitle" provision

start() { # name readiness-url
  start_as "$1" "$1" "$2"
}
start_as() { # name binary readiness-url
  "$bin/$2" >"$var/log/$1.log" 2>&1 &
  pids+=($!)
  wait_http "$3" "$1" "$var/log/$1.log"
  echo ">> $1 ready"
}
ops() { echo "http://127.0.0.1:${1##*:}"; } # an ops listen address as a URL
if [ -n "$local_issuer" ]; then
  start issuer         "$(ops "$PERTITLE_ISSUER_OPS_ADDR")/readyz"
fi
if [ -n "$fake_bitmovin" ]; then
  start fakebitmovin   "http://$PERTITLE_FAKEBITMOVIN_ADDR/readyz"
fi
start catalog          "$(ops "$PERTITLE_CATALOG_OPS_ADDR")/readyz"
start webhook-receiver "$(ops "$PERTITLE_WEBHOOK_OPS_ADDR")/readyz"
# PERTITLE_ENCODE_WORKERS encoder-dispatch processes share the queues (chunks of
# long titles go to any of them); each has its own work directory and ops port
# (the first on PERTITLE_DISPATCH_OPS_ADDR, the next ones 100 ports up each).
workers=${PERTITLE_ENCODE_WORKERS:-1}
case "$workers" in ''|*[!0-9]*|0) echo "PERTITLE_ENCODE_WORKERS=$workers: want a whole number of at least 1" >&2; exit 1;; esac
dispatch_host=${PERTITLE_DISPATCH_OPS_ADDR%:*}; dispatch_port=${PERTITLE_DISPATCH_OPS_ADDR##*:}
dispatch_ops=()
for ((w=1; w<=workers; w++)); do
  addr=$dispatch_host:$((dispatch_port + 100*(w-1)))
  name=encoder-dispatch; [ "$workers" -gt 1 ] && name=encoder-dispatch-$w
  PERTITLE_DISPATCH_OPS_ADDR=$addr PERTITLE_WORK_DIR=$PERTITLE_WORK_DIR/$w \
    start_as "$name" encoder-dispatch "$(ops "$addr")/readyz"
  dispatch_ops+=("$name $(ops "$addr")/")
done
start ingest           "$(ops "$PERTITLE_INGEST_OPS_ADDR")/readyz"

cat <<MSG

pertitle is running.
  web app   $PERTITLE_CATALOG_URL/                  (sign in, upload, watch, analytics)
  upload    $PERTITLE_INGEST_URL/v1/assets          (POST a video)
  catalog   $PERTITLE_CATALOG_URL/v1/assets
  media     ${PERTITLE_MEDIA_BASE_URL}
  webhooks  $PERTITLE_WEBHOOK_URL
  ops       /readyz (details) and /metrics, on loopback:
              catalog          $(ops "$PERTITLE_CATALOG_OPS_ADDR")/
              ingest           $(ops "$PERTITLE_INGEST_OPS_ADDR")/
              webhook-receiver $(ops "$PERTITLE_WEBHOOK_OPS_ADDR")/
$(printf '              %-16s %s\n' ${dispatch_ops[@]})${local_issuer:+
              issuer           $(ops "$PERTITLE_ISSUER_OPS_ADDR")/}
  SNS/SQS   ${PERTITLE_AWS_ENDPOINT:-AWS}
  logs      $var/log/

  sign-in   $PERTITLE_OIDC_ISSUER${local_issuer:+ (local issuer; users in $PERTITLE_ISSUER_USERS)}

Try:  bin/pertitle login        (or: echo demo | bin/pertitle login --username demo --password-stdin)
      bin/pertitle upload your-clip.mp4 --wait
${PERTITLE_S3_ENDPOINT:+  S3:  curl -T clip.mp4 $PERTITLE_S3_ENDPOINT/${PERTITLE_S3_INPUT_BUCKET:-pertitle-input}/uploads/OWNER_SUB/clip.mp4 \\
         && PERTITLE_STORAGE=s3 PERTITLE_S3_ENDPOINT=$PERTITLE_S3_ENDPOINT bin/pertitle s3-notify uploads/OWNER_SUB/clip.mp4
}  or: curl -T your-clip.mp4 -X POST -H "Authorization: Bearer \$(bin/pertitle token)" $PERTITLE_INGEST_URL/v1/assets
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "!! a process exited; see $var/log/" >&2
