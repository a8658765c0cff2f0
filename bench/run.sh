#!/usr/bin/env bash
# Side-by-side benchmarks of ngx_neonpro; bench/README.md describes the method.
#
#   1. LGPD filter: neonpro_data_class (A) vs add_header (B) vs
#      header_filter_by_lua_block (C), three servers of one nginx.
#   2. Agent pass: neonpro_agent_pass (D) vs proxy_pass (E), two servers of
#      one nginx, both passing to the same fast upstream nginx.
#   3. JWT verification: a static file without authentication (F) vs
#      neonpro_auth_jwt with an RS256 key and the token cache (G) vs the
#      same without the cache (H), three servers of one nginx, all sent the
#      same Bearer token.
#
# Run it from `make bench` (which builds the module first) or as
# `bash bench/run.sh`. The nginx under test runs on CPU 0, wrk and the
# upstream nginx on CPU 1. Environment overrides:
#   BENCH_ROUNDS         rounds per variant (default 7, at least 5)
#   BENCH_DURATION       seconds per wrk round (default 5)
#   BENCH_CONNECTIONS    wrk connections (default 32)
#   BENCH_MAX_OTHER_CPU  percent of one CPU that other processes may use
#                        during a round before it is repeated (default 10)
#   BENCH_PROFILE        auto: profile both variants of a missed target with
#                        perf, then count instructions with bench/callgrind.sh;
#                        always: do both for every variant; never
#                        (default auto)
#   NEONPRO_MODULE       path of ngx_neonpro_module.so
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-7}
DURATION=${BENCH_DURATION:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
MAX_OTHER_CPU_PERCENT=${BENCH_MAX_OTHER_CPU:-10}
PROFILE=${BENCH_PROFILE:-auto}
WARMUP_SECONDS=2
PROFILE_SECONDS=8
NGINX_CPU=0
CLIENT_CPU=1
# Maximum number of attempts at one round that other processes disturb.
MAX_ATTEMPTS=3
CLOCK_TICKS=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# Preconditions

[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 5 ]] || fail "BENCH_ROUNDS must be an integer >= 5, got '$ROUNDS'"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 ]] || fail "BENCH_DURATION must be a whole number of seconds >= 1, got '$DURATION'"
[[ $CONNECTIONS =~ ^[0-9]+$ && $CONNECTIONS -ge 1 ]] || fail "BENCH_CONNECTIONS must be an integer >= 1, got '$CONNECTIONS'"
case $PROFILE in
    auto | always | never) ;;
    *) fail "BENCH_PROFILE must be auto, always or never, got '$PROFILE'" ;;
esac
[[ $MAX_OTHER_CPU_PERCENT =~ ^[0-9]+$ ]] || fail "BENCH_MAX_OTHER_CPU must be a whole percentage, got '$MAX_OTHER_CPU_PERCENT'"

require wrk taskset timeout
if [[ $PROFILE != never ]]; then
    require perf
fi
cpu_count=$(nproc --all)
[[ $cpu_count -ge 2 ]] || fail "needs 2 CPUs (nginx on CPU $NGINX_CPU, wrk on CPU $CLIENT_CPU), this machine has $cpu_count"

# ---------------------------------------------------------------------------
# Measurement

# Print the user + system CPU time of a process, in clock ticks.
cpu_ticks() {
    # Fields 14 and 15 of /proc/PID/stat. Plain field splitting works because
    # the command name of nginx has no spaces.
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Run one wrk load of SECONDS against URL, with the client on its own CPU.
# Extra arguments go to wrk before the URL.
run_wrk() {
    local seconds=$1 url=$2 output=$3
    shift 3
    timeout $((seconds + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency "$@" "$url" > "$output"
}

# Print the busy clock ticks (user, nice, system, steal) of the two CPUs in
# use. Interrupt and softirq time is left out, because the loopback traffic
# of the benchmark itself is most of it.
busy_ticks() {
    awk -v a="cpu$NGINX_CPU" -v b="cpu$CLIENT_CPU" \
        '$1 == a || $1 == b { sum += $2 + $3 + $4 + $9 } END { print sum }' /proc/stat
}

# Print the CPU time of the reaped children of this shell, in clock ticks.
# `times` must run in this shell, not in a $(...) subshell, whose children
# counters start at zero.
children_ticks() {
    times > "$PREFIX/times.txt"
    awk -v hz="$CLOCK_TICKS" 'NR == 2 {
        for (i = 1; i <= 2; i++) {
            split($i, part, "m")
            sum += part[1] * 60 + substr(part[2], 1, length(part[2]) - 1)
        }
        printf "%d\n", sum * hz + 0.5
    }' "$PREFIX/times.txt"
}

# Run one measured round of VARIANT against URL and record it in rounds.tsv,
# or in discarded.tsv when other processes were busy on the two CPUs. Sets
# ROUND_KEPT to 1 or 0. The worker under test is MEASURED_WORKER. The CPU
# time of HELPER_WORKERS (the upstream nginx) and of wrk counts as ours.
run_measured_round() {
    local variant=$1 round=$2 attempt=$3 url=$4 force_keep=$5
    local file=wrk-$variant-$round-$attempt.txt pid
    local worker_before busy_before children_before helpers_before=0
    local worker_ticks busy children helpers=0 other other_percent

    for pid in "${HELPER_WORKERS[@]+"${HELPER_WORKERS[@]}"}"; do
        helpers_before=$((helpers_before + $(cpu_ticks "$pid")))
    done
    children_ticks > "$PREFIX/children.txt"
    children_before=$(< "$PREFIX/children.txt")
    busy_before=$(busy_ticks)
    worker_before=$(cpu_ticks "$MEASURED_WORKER")

    run_wrk "$DURATION" "$url" "$RESULTS/$file" "${WRK_OPTIONS[@]}"

    worker_ticks=$(($(cpu_ticks "$MEASURED_WORKER") - worker_before))
    busy=$(($(busy_ticks) - busy_before))
    children_ticks > "$PREFIX/children.txt"
    children=$(($(< "$PREFIX/children.txt") - children_before))
    for pid in "${HELPER_WORKERS[@]+"${HELPER_WORKERS[@]}"}"; do
        helpers=$((helpers + $(cpu_ticks "$pid")))
    done
    helpers=$((helpers - helpers_before))

    # The share of one CPU that processes other than ours used in the round.
    other=$((busy - worker_ticks - helpers - children))
    other_percent=$((other < 0 ? 0 : other * 100 / (DURATION * CLOCK_TICKS)))

    local line
    line=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$variant" "$round" "$file" "$worker_ticks" "$CLOCK_TICKS" "$other_percent")
    if [[ $other_percent -le $MAX_OTHER_CPU_PERCENT || $force_keep == 1 ]]; then
        echo "$line" >> "$RESULTS/rounds.tsv"
        ROUND_KEPT=1
    else
        echo "$line" >> "$RESULTS/discarded.tsv"
        ROUND_KEPT=0
    fi
    printf '  round %d %s %s  (other processes: %d%% of a CPU%s)\n' "$round" "$variant" \
        "$(grep 'Requests/sec' "$RESULTS/$file")" "$other_percent" \
        "$([[ $ROUND_KEPT == 1 ]] || echo ', discarded and repeated')"
}

# Run ROUNDS rounds of every variant, alternating the variants in each round.
# Arguments are "VARIANT URL" words, and the wrk options of the comparison
# are in the array WRK_OPTIONS. A round disturbed by other processes is repeated,
# at most MAX_ATTEMPTS times in all and within a budget of ROUNDS repeats
# per comparison, so that the run stays bounded in time. When the budget is
# spent, a disturbed round is kept and report.py marks it.
run_rounds() {
    local round variant_url variant url attempt repeats_left=$ROUNDS force_keep
    for variant_url in "$@"; do
        read -r variant url <<< "$variant_url"
        run_wrk "$WARMUP_SECONDS" "$url" "$RESULTS/warmup-$variant.txt" "${WRK_OPTIONS[@]}"
    done
    for round in $(seq 1 "$ROUNDS"); do
        for variant_url in "$@"; do
            read -r variant url <<< "$variant_url"
            attempt=1
            while true; do
                force_keep=0
                if [[ $attempt -ge $MAX_ATTEMPTS || $repeats_left -le 0 ]]; then
                    force_keep=1
                fi
                run_measured_round "$variant" "$round" "$attempt" "$url" "$force_keep"
                [[ $ROUND_KEPT == 1 ]] && break
                attempt=$((attempt + 1))
                repeats_left=$((repeats_left - 1))
            done
        done
    done
}

# Sample the worker with perf while wrk loads one variant. perf samples the
# software cpu-clock event because virtual machines often lack hardware
# counters.
profile_variant() {
    local worker=$1 variant=$2 url=$3 wrk_pid
    local data=$RESULTS/perf-$variant.data
    echo "  profiling $variant for $PROFILE_SECONDS s (perf record -e cpu-clock -g)"
    run_wrk $((PROFILE_SECONDS + 2)) "$url" "$RESULTS/wrk-profile-$variant.txt" "${WRK_OPTIONS[@]}" &
    wrk_pid=$!
    sleep 1
    if perf record -e cpu-clock -g -p "$worker" -o "$data" -- sleep "$PROFILE_SECONDS" \
        > "$RESULTS/perf-$variant.log" 2>&1; then
        perf report -i "$data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.3 \
            > "$RESULTS/perf-$variant.txt" 2>> "$RESULTS/perf-$variant.log"
        perf report -i "$data" --stdio --no-children -g none --sort dso \
            > "$RESULTS/perf-$variant-dso.txt" 2>> "$RESULTS/perf-$variant.log"
        # The kernel's TCP work dominates the samples, so show the user-space top.
        awk '/\[\.\]/ && shown++ < 12 { print "    " $0 }' "$RESULTS/perf-$variant.txt"
    else
        echo "bench: perf record failed for variant $variant, see $RESULTS/perf-$variant.log" >&2
    fi
    wait "$wrk_pid"
}

# Profile the variants that BENCH_PROFILE selects for the rounds so far.
# Arguments: WORKER_PID, then "VARIANT URL" words of this comparison.
profile_if_needed() {
    local worker=$1 selected="" variant_url variant url
    shift
    [[ $PROFILE == never ]] && return 0
    if [[ $PROFILE == always ]]; then
        for variant_url in "$@"; do
            selected+=" ${variant_url%% *}"
        done
    else
        selected=$("$PYTHON" "$BENCH_DIR/report.py" missed "$RESULTS" | tr '\n' ' ')
    fi
    for variant_url in "$@"; do
        read -r variant url <<< "$variant_url"
        if [[ " $selected " == *" $variant "* ]]; then
            profile_variant "$worker" "$variant" "$url"
        fi
    done
}

# ---------------------------------------------------------------------------
# Machine and versions, for reading the numbers later

setup_directories run

{
    echo "date: $(date -Is)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $cpu_count CPUs"
    echo "kernel: $(uname -r)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nginx: $("$NGINX" -v 2>&1)"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "module: $MODULE_SOURCE sha256 $(sha256sum "$MODULE" | cut -d' ' -f1)"
    echo "git: $(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo none)," \
        "$(git -C "$REPO" status --porcelain 2> /dev/null | wc -l) changed or untracked files"
    echo "nginx under test on CPU $NGINX_CPU; wrk and the upstream nginx on CPU $CLIENT_CPU"
    echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, $ROUNDS rounds after a ${WARMUP_SECONDS}s warm-up per variant"
} > "$RESULTS/machine.txt"
cat "$RESULTS/machine.txt"
echo

# ---------------------------------------------------------------------------
# 1. LGPD filter: A vs B vs C

echo "== LGPD filter: A neonpro_data_class, B add_header, C header_filter_by_lua_block"
start_nginx lgpd "$NGINX_CPU" "$PORT_A"
LGPD_MASTER=$STARTED_MASTER
MEASURED_WORKER=$STARTED_WORKER
HELPER_WORKERS=()
LGPD_VARIANTS=(
    "A http://127.0.0.1:$PORT_A/$STATIC_FILE"
    "B http://127.0.0.1:$PORT_B/$STATIC_FILE"
    "C http://127.0.0.1:$PORT_C/$STATIC_FILE"
)
check_lgpd_variants "${LGPD_VARIANTS[@]#* }"

WRK_OPTIONS=("${LEGAL_HEADERS[@]}")
echo "  wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -H 'X-LGPD-Purpose: medical_care'" \
    "-H 'X-LGPD-Legal-Basis: health_protection' URL"
run_rounds "${LGPD_VARIANTS[@]}"
profile_if_needed "$MEASURED_WORKER" "${LGPD_VARIANTS[@]}"
stop_process "$LGPD_MASTER"
echo

# ---------------------------------------------------------------------------
# 2. Agent pass: D vs E

echo "== Agent pass: D neonpro_agent_pass, E proxy_pass"
start_nginx upstream "$CLIENT_CPU" "$PORT_UPSTREAM"
UPSTREAM_MASTER=$STARTED_MASTER
HELPER_WORKERS=("$STARTED_WORKER")
start_nginx agent "$NGINX_CPU" "$PORT_D"
AGENT_MASTER=$STARTED_MASTER
MEASURED_WORKER=$STARTED_WORKER
AGENT_VARIANTS=(
    "D http://127.0.0.1:$PORT_D$AGENT_PATH"
    "E http://127.0.0.1:$PORT_E$AGENT_PATH"
)
check_agent_variants "${AGENT_VARIANTS[@]#* }"

WRK_OPTIONS=(-s "$BENCH_DIR/post.lua")
echo "  wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -s bench/post.lua URL"
run_rounds "${AGENT_VARIANTS[@]}"
profile_if_needed "$MEASURED_WORKER" "${AGENT_VARIANTS[@]}"
stop_process "$AGENT_MASTER"
stop_process "$UPSTREAM_MASTER"
echo

# ---------------------------------------------------------------------------
# 3. JWT verification: F vs G vs H

echo "== JWT verification: F no authentication, G neonpro_auth_jwt RS256 with cache, H without cache"
make_jwt_tokens
start_nginx jwt "$NGINX_CPU" "$PORT_F"
JWT_MASTER=$STARTED_MASTER
MEASURED_WORKER=$STARTED_WORKER
HELPER_WORKERS=()
JWT_VARIANTS=(
    "F http://127.0.0.1:$PORT_F/$STATIC_FILE"
    "G http://127.0.0.1:$PORT_G/$STATIC_FILE"
    "H http://127.0.0.1:$PORT_H/$STATIC_FILE"
)
check_jwt_variants "${JWT_VARIANTS[@]#* }"

WRK_OPTIONS=(-H "Authorization: Bearer $JWT_TOKEN")
echo "  wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency" \
    "-H 'Authorization: Bearer <RS256 token of ${#JWT_TOKEN} bytes>' URL"
run_rounds "${JWT_VARIANTS[@]}"
profile_if_needed "$MEASURED_WORKER" "${JWT_VARIANTS[@]}"
stop_process "$JWT_MASTER"
echo

# ---------------------------------------------------------------------------
# Summary, and instruction counts when a target is missed

echo "== Results ($RESULTS)"
report_status=0
"$PYTHON" "$BENCH_DIR/report.py" table "$RESULTS" "$MAX_OTHER_CPU_PERCENT" || report_status=$?

missed=$("$PYTHON" "$BENCH_DIR/report.py" missed "$RESULTS")
if [[ $PROFILE == always || ($PROFILE == auto && -n $missed) ]]; then
    echo
    if command -v valgrind > /dev/null; then
        bash "$BENCH_DIR/callgrind.sh" || echo "bench: bench/callgrind.sh failed, see its output above" >&2
    else
        echo "bench: valgrind not found, so no instruction counts (bench/callgrind.sh)" >&2
    fi
fi
exit "$report_status"
