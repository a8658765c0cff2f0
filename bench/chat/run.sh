#!/usr/bin/env bash
# Chat WebSocket benchmark: neonpro_chat against nchan (Debian's
# libnginx-mod-nchan), both on nginx 1.22.1 with 2 workers on 127.0.0.1.
# Measures fan-out throughput and latency (1000 subscribers, median of
# BENCH_CHAT_ROUNDS alternating rounds) and PSS per idle subscribed socket
# (10,000 sockets, one round each on a freshly started nginx).
# See bench/chat/README.md for the method and the last results.

set -euo pipefail

CHAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CHAT_DIR/../.." && pwd)
MODULE_SOURCE=${NEONPRO_MODULE:-$REPO/build/nginx/objs/ngx_neonpro_module.so}
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
NGINX=/usr/sbin/nginx
PYTHON=/usr/bin/python3

ROUNDS=${BENCH_CHAT_ROUNDS:-5}
SUBSCRIBERS=${BENCH_CHAT_SUBSCRIBERS:-1000}
MESSAGES=${BENCH_CHAT_MESSAGES:-500}
WINDOW=${BENCH_CHAT_WINDOW:-16}
IDLE_CONNECTIONS=${BENCH_CHAT_IDLE:-10000}
# nginx and the load generator share both CPUs of the 2-vCPU machine.
CPUS=${BENCH_CHAT_CPUS:-0,1}
ROUND_TIMEOUT=60
WAIT_SECONDS=10

NEONPRO_HEADER="Sec-WebSocket-Protocol: neonpro.chat.v1"

fail() {
    echo "bench/chat: $*" >&2
    exit 1
}

[[ -f $MODULE_SOURCE ]] \
    || fail "module not found at $MODULE_SOURCE: run 'make -C $REPO build' or set NEONPRO_MODULE"
[[ -f $NCHAN_MODULE ]] \
    || fail "$NCHAN_MODULE not found: run 'apt-get install -y libnginx-mod-nchan'"
for tool in cc curl taskset "$NGINX" "$PYTHON"; do
    command -v "$tool" > /dev/null || fail "$tool not found"
done
[[ $ROUNDS -ge 5 ]] || fail "BENCH_CHAT_ROUNDS=$ROUNDS: use at least 5"

RESULTS=$CHAT_DIR/../results/chat-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
ln -sfn "$(basename "$RESULTS")" "$CHAT_DIR/../results/chat-latest"

# nginx workers run as nobody, so the prefix is world-readable and its temp
# directories are world-writable.
PREFIX=$(mktemp -d /tmp/neonpro-chat-bench-XXXXXX)
chmod 755 "$PREFIX"
for temp_name in client_body proxy fastcgi uwsgi scgi; do
    mkdir -p "$PREFIX/tmp/$temp_name"
done
chmod -R 777 "$PREFIX/tmp"
MODULE=$PREFIX/ngx_neonpro_module.so
cp "$MODULE_SOURCE" "$MODULE"

LOADGEN=$PREFIX/loadgen
cc -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$CHAT_DIR/loadgen.c"

STARTED_PIDS=()

# Stop one nginx master that this script started: SIGQUIT, then SIGKILL
# after WAIT_SECONDS.
stop_nginx() {
    local pid=$1 waited=0 kept=() started
    if kill -0 "$pid" 2> /dev/null; then
        kill -QUIT "$pid" 2> /dev/null || true
        while kill -0 "$pid" 2> /dev/null && [[ $waited -lt $((WAIT_SECONDS * 10)) ]]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2> /dev/null; then
            echo "bench/chat: nginx $pid did not stop within $WAIT_SECONDS s of SIGQUIT, sending SIGKILL" >&2
            kill -KILL "$pid" 2> /dev/null || true
        fi
        wait "$pid" 2> /dev/null || true
    fi
    for started in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        [[ $started == "$pid" ]] || kept+=("$started")
    done
    STARTED_PIDS=("${kept[@]+"${kept[@]}"}")
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        stop_nginx "$pid"
    done
    cp "$PREFIX"/*-error.log "$PREFIX"/*.conf "$RESULTS"/ 2> /dev/null || true
    rm -rf "$PREFIX"
}
trap cleanup EXIT

read -r PORT_NEONPRO PORT_NCHAN <<< "$("$PYTHON" - << 'EOF'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
)"

declare -A PORT=([neonpro]=$PORT_NEONPRO [nchan]=$PORT_NCHAN)
declare -A MASTER=()

for name in neonpro nchan; do
    sed -e "s|@MODULE@|$MODULE|g" -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|${PORT[$name]}|g" \
        "$CHAT_DIR/$name.conf" > "$PREFIX/$name.conf"
    "$NGINX" -t -q -p "$PREFIX/" -c "$PREFIX/$name.conf" -e "$PREFIX/$name-error.log" \
        || fail "nginx -t rejected bench/chat/$name.conf (rendered at $PREFIX/$name.conf)"
done

# Start nginx NAME pinned to CPUS and wait until it responds on its port.
start_nginx() {
    local name=$1 waited=0
    taskset -c "$CPUS" "$NGINX" -p "$PREFIX/" -c "$PREFIX/$name.conf" -e "$PREFIX/$name-error.log" \
        < /dev/null > "$PREFIX/$name.stdout" 2>&1 &
    MASTER[$name]=$!
    STARTED_PIDS+=("${MASTER[$name]}")
    while ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:${PORT[$name]}/" \
        || [[ $(pgrep -P "${MASTER[$name]}" | wc -l) -lt 2 ]]; do
        kill -0 "${MASTER[$name]}" 2> /dev/null \
            || fail "nginx ($name) exited at start: $(tail -5 "$PREFIX/$name-error.log" 2> /dev/null)"
        [[ $waited -lt $((WAIT_SECONDS * 10)) ]] \
            || fail "nginx ($name) did not answer on 127.0.0.1:${PORT[$name]} within $WAIT_SECONDS s"
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Print the loadgen arguments that select the protocol of NAME.
protocol_args() {
    case $1 in
        neonpro) echo "--proto neonpro --path /ws/chat" ;;
        nchan) echo "--proto nchan --path /sub --publish-path /pub" ;;
    esac
}

# Run loadgen with the protocol and port of NAME and append its result line
# to rounds.txt.
run_loadgen() {
    local name=$1 mode=$2 output status=0
    shift 2
    local args
    read -ra args <<< "$(protocol_args "$name")"
    if [[ $name == neonpro ]]; then
        args+=(--header "$NEONPRO_HEADER")
    fi
    output=$(taskset -c "$CPUS" "$LOADGEN" "$mode" "${args[@]}" --port "${PORT[$name]}" \
        --timeout "$ROUND_TIMEOUT" "$@" 2> "$RESULTS/loadgen-stderr.tmp") || status=$?
    cat "$RESULTS/loadgen-stderr.tmp" >> "$RESULTS/loadgen-stderr.log"
    rm -f "$RESULTS/loadgen-stderr.tmp"
    [[ $status -eq 0 ]] \
        || fail "loadgen $mode against $name failed (exit $status): $output; see $RESULTS/loadgen-stderr.log"
    echo "$output" | tee -a "$RESULTS/rounds.txt"
}

# Print the PIDs of the master and workers of NAME, comma-separated.
instance_pids() {
    echo "${MASTER[$1]} $(pgrep -P "${MASTER[$1]}" | tr '\n' ' ')" | xargs | tr ' ' ,
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)"
    echo "kernel: $(uname -r)"
    echo "cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "nginx: $("$NGINX" -v 2>&1 | cut -d/ -f2)"
    echo "nchan: $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2> /dev/null || echo unknown)"
    echo "subscribers=$SUBSCRIBERS messages=$MESSAGES window=$WINDOW rounds=$ROUNDS idle=$IDLE_CONNECTIONS cpus=$CPUS"
} > "$RESULTS/machine.txt"

# Idle memory first, each on a freshly started nginx, so that the heap
# growth of the fan-out rounds does not hide in the baseline.
for name in neonpro nchan; do
    start_nginx "$name"
    echo "idle: $IDLE_CONNECTIONS subscribed sockets on $name"
    run_loadgen "$name" idle --connections "$IDLE_CONNECTIONS" --settle-ms 1000 \
        --session bench-idle-session --pids "$(instance_pids "$name")"
    stop_nginx "${MASTER[$name]}"
done

start_nginx neonpro
start_nginx nchan

for round in $(seq 1 "$ROUNDS"); do
    # alternate which server goes first
    if [[ $((round % 2)) -eq 1 ]]; then
        order=(neonpro nchan)
    else
        order=(nchan neonpro)
    fi
    for name in "${order[@]}"; do
        echo "fan-out round $round: $name"
        run_loadgen "$name" fanout --connections "$SUBSCRIBERS" --messages "$MESSAGES" \
            --window "$WINDOW" --session "bench-session-$round"
    done
done

"$PYTHON" - "$RESULTS/rounds.txt" << 'EOF' | tee "$RESULTS/summary.txt"
import statistics
import sys

rows = []
with open(sys.argv[1]) as f:
    for line in f:
        fields = dict(item.split("=", 1) for item in line.split()[1:])
        rows.append(fields)


def median(mode, proto, key):
    values = [float(r[key]) for r in rows if r["mode"] == mode and r["proto"] == proto]
    return statistics.median(values), len(values)


metrics = [
    ("delivered msg/s", "fanout", "msgs_per_s", "ratio >= 1.0 (aim 1.5)",
     lambda n, c: n / c >= 1.0),
    ("p50 latency (us)", "fanout", "p50_us", "-", None),
    ("p99 latency (us)", "fanout", "p99_us", "neonpro <= nchan",
     lambda n, c: n <= c),
    ("bytes per idle socket", "idle", "bytes_per_connection",
     "neonpro <= nchan and <= 4096", lambda n, c: n <= c and n <= 4096),
]

print(f"{'metric':<24}{'neonpro':>12}{'nchan':>12}{'ratio':>8}  {'rounds':>6}  target")
for label, mode, key, target, check in metrics:
    neonpro, count = median(mode, "neonpro", key)
    nchan, _ = median(mode, "nchan", key)
    ratio = neonpro / nchan if nchan else float("nan")
    verdict = "" if check is None else ("met" if check(neonpro, nchan) else "MISSED")
    print(f"{label:<24}{neonpro:>12.0f}{nchan:>12.0f}{ratio:>8.2f}  {count:>6}  {target} {verdict}")
EOF
echo "results: $RESULTS"
