#!/usr/bin/env bash
# Count the instructions that nginx executes per request in each variant of
# bench/run.sh, with valgrind's callgrind tool, and list the functions that
# differ between the variants of each comparison.
#
# The counts are exact and unaffected by other processes, but they cover
# user space only: no kernel time, cache misses or stalls. Use them next to
# the perf profile of run.sh to see where one variant spends more.
#
# nginx runs the configs of bench/conf/ with `master_process off` under
# callgrind. For each variant curl sends WARMUP_REQUESTS requests, callgrind
# zeroes its counters, curl sends REQUESTS more over one keepalive
# connection, and callgrind dumps the counters. curl sends User-Agent and
# Accept headers that wrk does not, the same for every variant.
#
#   BENCH_CALLGRIND_REQUESTS  requests per variant (default 5000)
#
# Output: bench/results/callgrind-<time>/ (linked as callgrind-latest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${BENCH_CALLGRIND_REQUESTS:-5000}
WARMUP_REQUESTS=200
# nginx starts much slower under valgrind.
VALGRIND_START_SECONDS=60
NGINX_CPU=0
CLIENT_CPU=1

[[ $REQUESTS =~ ^[0-9]+$ && $REQUESTS -ge 100 ]] \
    || fail "BENCH_CALLGRIND_REQUESTS must be an integer >= 100, got '$REQUESTS'"
require valgrind callgrind_control taskset

setup_directories callgrind

# Write a curl config that requests URL COUNT times, discarding the bodies.
write_curl_config() {
    local url=$1 count=$2 output=$3 i
    for ((i = 0; i < count; i++)); do
        printf 'url = "%s"\noutput = "/dev/null"\n' "$url"
    done > "$output"
}

# Render bench/conf/NAME.conf with `master_process off` and start it under
# callgrind. Sets VALGRIND_PID.
start_under_callgrind() {
    local name=$1 port=$2
    render_config "$name"
    sed -i 's/^master_process on;/master_process off;/' "$PREFIX/$name.conf"
    launch_nginx "$name" "$port" "$VALGRIND_START_SECONDS" \
        taskset -c "$NGINX_CPU" valgrind --tool=callgrind \
        --callgrind-out-file="$RESULTS/callgrind.out.$name"
    VALGRIND_PID=$STARTED_MASTER
}

# Count the instructions of REQUESTS requests to URL and name the dump after
# VARIANT. Extra arguments are curl options.
count_variant() {
    local variant=$1 url=$2 non_200
    shift 2
    write_curl_config "$url" "$WARMUP_REQUESTS" "$PREFIX/warmup.curl"
    write_curl_config "$url" "$REQUESTS" "$PREFIX/measured.curl"

    taskset -c "$CLIENT_CPU" curl -sS "$@" -w '%{http_code}\n' --config "$PREFIX/warmup.curl" \
        > "$PREFIX/status.txt"
    callgrind_control -z "$VALGRIND_PID" >> "$RESULTS/callgrind_control.log" 2>&1
    taskset -c "$CLIENT_CPU" curl -sS "$@" -w '%{http_code}\n' --config "$PREFIX/measured.curl" \
        > "$PREFIX/status.txt"
    callgrind_control -d "variant-$variant" "$VALGRIND_PID" >> "$RESULTS/callgrind_control.log" 2>&1

    non_200=$(grep -vc '^200$' "$PREFIX/status.txt" || true)
    [[ $non_200 == 0 ]] || fail "$variant: $non_200 of $REQUESTS responses from $url were not 200"
    echo "  $variant: counted $REQUESTS requests"
}

echo "== callgrind, $REQUESTS requests per variant; results in $RESULTS"

start_under_callgrind lgpd "$PORT_A"
check_lgpd_variants "http://127.0.0.1:$PORT_A/$STATIC_FILE" "http://127.0.0.1:$PORT_B/$STATIC_FILE" \
    "http://127.0.0.1:$PORT_C/$STATIC_FILE"
count_variant A "http://127.0.0.1:$PORT_A/$STATIC_FILE" "${LEGAL_HEADERS[@]}"
count_variant B "http://127.0.0.1:$PORT_B/$STATIC_FILE" "${LEGAL_HEADERS[@]}"
count_variant C "http://127.0.0.1:$PORT_C/$STATIC_FILE" "${LEGAL_HEADERS[@]}"
stop_process "$VALGRIND_PID"

start_nginx upstream "$CLIENT_CPU" "$PORT_UPSTREAM"
start_under_callgrind agent "$PORT_D"
check_agent_variants "http://127.0.0.1:$PORT_D$AGENT_PATH" "http://127.0.0.1:$PORT_E$AGENT_PATH"
POST_OPTIONS=(-H 'Content-Type: application/json' --data-binary "$POST_BODY")
count_variant D "http://127.0.0.1:$PORT_D$AGENT_PATH" "${POST_OPTIONS[@]}"
count_variant E "http://127.0.0.1:$PORT_E$AGENT_PATH" "${POST_OPTIONS[@]}"
stop_process "$VALGRIND_PID"

make_jwt_tokens
start_under_callgrind jwt "$PORT_F"
check_jwt_variants "http://127.0.0.1:$PORT_F/$STATIC_FILE" "http://127.0.0.1:$PORT_G/$STATIC_FILE" \
    "http://127.0.0.1:$PORT_H/$STATIC_FILE"
count_variant F "http://127.0.0.1:$PORT_F/$STATIC_FILE" -H "Authorization: Bearer $JWT_TOKEN"
count_variant G "http://127.0.0.1:$PORT_G/$STATIC_FILE" -H "Authorization: Bearer $JWT_TOKEN"
count_variant H "http://127.0.0.1:$PORT_H/$STATIC_FILE" -H "Authorization: Bearer $JWT_TOKEN"
stop_process "$VALGRIND_PID"
echo

"$PYTHON" "$BENCH_DIR/report.py" callgrind "$RESULTS" "$REQUESTS"
