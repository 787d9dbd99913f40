# shellcheck shell=bash
# Prometheus for zdm's local stack, sourced by scripts/stack.sh: a real server (Debian's
# prometheus package, which make deps-system installs) scraping the zdm worker's metrics
# and the demo application's, so that a migration's guard has something to ask. Its config
# and data live in .stack/; docker-compose.yml's prometheus service scrapes the same jobs
# (deploy/prometheus/prometheus.yml).

: "${PROMETHEUS_URL:=http://127.0.0.1:9091}"
# Where the demo application serves its metrics (zdm-demoapp run --metrics-addr).
: "${ZDM_DEMO_METRICS_ADDR:=127.0.0.1:9464}"
PROMETHEUS_URL="${PROMETHEUS_URL%/}"

prometheus_answers() { curl -fsS -m 3 -o /dev/null "$PROMETHEUS_URL/-/ready" 2>/dev/null; }

prometheus_config() {
	local worker="${ZDM_METRICS_ADDR:-127.0.0.1:9090}"
	cat <<YAML
# Written by scripts/stack.sh up; the same jobs as deploy/prometheus/prometheus.yml.
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: zdm-worker
    static_configs:
      - targets: ["$worker"]
  - job_name: zdm-demoapp
    static_configs:
      - targets: ["$ZDM_DEMO_METRICS_ADDR"]
YAML
}

prometheus_up() {
	if prometheus_answers; then
		log "Prometheus answers at $PROMETHEUS_URL ($(who prometheus "--storage.tsdb.path=$STACK/prometheus")); using it"
		return 0
	fi
	local host port bin
	host="$(http_host "$PROMETHEUS_URL")"
	port="$(http_port "$PROMETHEUS_URL")"
	is_local_host "$host" || die "Prometheus at $PROMETHEUS_URL does not answer, and zdm-stack only starts one on this machine"
	bin="$(command -v prometheus || true)"
	if [[ -z "$bin" ]]; then
		[[ "$(id -u)" == 0 ]] || die "prometheus is not installed and installing it needs root (apt-get install prometheus)"
		log "installing prometheus with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >&2
		bin="$(command -v prometheus)"
	fi
	prometheus_config >"$STACK/prometheus.yml"
	mkdir -p "$STACK/prometheus"
	log "starting Prometheus on $host:$port (config .stack/prometheus.yml, data .stack/prometheus)"
	spawn prometheus "$STACK/prometheus.log" "$bin" --config.file="$STACK/prometheus.yml" \
		--storage.tsdb.path="$STACK/prometheus" --storage.tsdb.retention.time=2d \
		--web.listen-address="$host:$port" --log.level=warn
	await_ready prometheus "--storage.tsdb.path=$STACK/prometheus" Prometheus prometheus_answers 60 0.5 \
		"Prometheus did not answer $PROMETHEUS_URL/-/ready within 30s"
	log "Prometheus ready at $PROMETHEUS_URL"
}

prometheus_down() { stop prometheus "--storage.tsdb.path=$STACK/prometheus" 15; }

prometheus_status() {
	if prometheus_answers; then
		status_line prometheus up "$PROMETHEUS_URL" "$(who prometheus "--storage.tsdb.path=$STACK/prometheus")"
	else
		status_line prometheus down "$PROMETHEUS_URL" -
	fi
}
