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
export PERTITLE_WORK_DIR=${PERTITLE_WORK_DIR:-$var/work}
export PERTITLE_CATALOG_ADDR=${PERTITLE_CATALOG_ADDR:-:8080}
export PERTITLE_INGEST_ADDR=${PERTITLE_INGEST_ADDR:-:8081}
export PERTITLE_WEBHOOK_ADDR=${PERTITLE_WEBHOOK_ADDR:-:8082}
export PERTITLE_DISPATCH_ADDR=${PERTITLE_DISPATCH_ADDR:-:8083}
export PERTITLE_MEDIA_BASE_URL=${PERTITLE_MEDIA_BASE_URL:-http://127.0.0.1:${PERTITLE_CATALOG_ADDR##*:}/media/}
export PERTITLE_WEBHOOK_URL=${PERTITLE_WEBHOOK_URL:-http://127.0.0.1:${PERTITLE_WEBHOOK_ADDR##*:}/webhooks/bitmovin}
export PERTITLE_CATALOG_URL=${PERTITLE_CATALOG_URL:-http://127.0.0.1:${PERTITLE_CATALOG_ADDR##*:}}
export PERTITLE_INGEST_URL=${PERTITLE_INGEST_URL:-http://127.0.0.1:${PERTITLE_INGEST_ADDR##*:}}
if [ -z "${PERTITLE_BITMOVIN_WEBHOOK_SECRET:-}" ]; then
  export PERTITLE_BITMOVIN_WEBHOOK_SECRET=local-dev-secret
  echo "warning: PERTITLE_BITMOVIN_WEBHOOK_SECRET is the built-in development secret; set your own outside this machine" >&2
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

echo ">> provisioning topics, queues, dead-letter queues and subscriptions"
PERTITLE_LOG_LEVEL=warn "$bin/pertitle" provision

start() { # name health-url
  "$bin/$1" >"$var/log/$1.log" 2>&1 &
  pids+=($!)
  wait_http "$2" "$1" "$var/log/$1.log"
  echo ">> $1 ready"
}
start catalog          "http://127.0.0.1:${PERTITLE_CATALOG_ADDR##*:}/readyz"
start webhook-receiver "http://127.0.0.1:${PERTITLE_WEBHOOK_ADDR##*:}/readyz"
start encoder-dispatch "http://127.0.0.1:${PERTITLE_DISPATCH_ADDR##*:}/readyz"
start ingest           "http://127.0.0.1:${PERTITLE_INGEST_ADDR##*:}/readyz"

cat <<MSG

pertitle is running.
  upload    $PERTITLE_INGEST_URL/v1/assets          (POST a video)
  catalog   $PERTITLE_CATALOG_URL/v1/assets
  media     ${PERTITLE_MEDIA_BASE_URL}
  webhooks  $PERTITLE_WEBHOOK_URL
  metrics   /metrics on every port above, encoder-dispatch on :${PERTITLE_DISPATCH_ADDR##*:}
  SNS/SQS   ${PERTITLE_AWS_ENDPOINT:-AWS}
  logs      $var/log/

Try:  bin/pertitle upload your-clip.mp4 --wait
  or: curl -T your-clip.mp4 -X POST $PERTITLE_INGEST_URL/v1/assets
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "!! a process exited; see $var/log/" >&2
