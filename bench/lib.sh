# Shared set-up of bench/run.sh and bench/callgrind.sh: a temporary nginx
# prefix, the configs of bench/conf/ rendered into it, the RSA keys and
# tokens of the JWT comparison, nginx processes that are stopped on exit,
# and the checks that every variant sends the response the comparison
# expects. Source it after `set -euo pipefail`.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
MODULE_SOURCE=${NEONPRO_MODULE:-$REPO/build/nginx/objs/ngx_neonpro_module.so}
NGINX=/usr/sbin/nginx
PYTHON=/usr/bin/python3
LUA_MODULES=(/usr/lib/nginx/modules/ndk_http_module.so /usr/lib/nginx/modules/ngx_http_lua_module.so)

# Bound on every wait for a process to start or stop.
WAIT_SECONDS=10

LEGAL_HEADERS=(-H "X-LGPD-Purpose: medical_care" -H "X-LGPD-Legal-Basis: health_protection")
STATIC_FILE=patient.json
STATIC_BODY='{"id":"p-000123","nome":"Maria Souza","proxima_consulta":"2026-12-05T09:00:00-03:00"}'
AGENT_PATH=/api/agent/query
# The request body of bench/post.lua, so that the checks send what wrk sends.
POST_BODY=$(sed -n "s/^wrk\.body = '\(.*\)'$/\1/p" "$BENCH_DIR/post.lua")
# The key id of the JWT comparison's RSA key, in bench/conf/jwt.conf and in
# the header of every token.
JWT_KID=bench-rs256
JWT_KEY_BITS=2048
# The lifetime of the tokens, far longer than a run.
JWT_LIFETIME_SECONDS=$((7 * 24 * 3600))

fail() {
    echo "bench: $*" >&2
    exit 1
}

# Abort unless the module, the Lua modules and every tool given exist.
require() {
    local tool lua_module
    [[ -f $MODULE_SOURCE ]] \
        || fail "module not found at $MODULE_SOURCE: run 'make -C $REPO build' or set NEONPRO_MODULE"
    for tool in curl openssl "$NGINX" "$PYTHON" "$@"; do
        command -v "$tool" > /dev/null || fail "$tool not found: run 'make -C $REPO deps'"
    done
    "$PYTHON" -c 'import jwt' 2> /dev/null \
        || fail "Python module jwt not found for $PYTHON: install python3-jwt ('make -C $REPO deps')"
    for lua_module in "${LUA_MODULES[@]}"; do
        [[ -f $lua_module ]] || fail "$lua_module not found: install libnginx-mod-http-lua"
    done
    [[ -n $POST_BODY ]] || fail "no \"wrk.body = '...'\" line found in $BENCH_DIR/post.lua"
}

# Create RESULTS (bench/results/<NAME>-<time>, linked as <NAME>-latest) and
# PREFIX, a temporary nginx prefix that contains the static file and a copy
# of the module, so that a rebuild during the run cannot mix two versions.
# Installs the cleanup that stops every started nginx on exit.
setup_directories() {
    local name=$1 temp_name
    RESULTS=$BENCH_DIR/results/$name-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$RESULTS"
    ln -sfn "$(basename "$RESULTS")" "$BENCH_DIR/results/$name-latest"

    # nginx workers run as nobody, so the prefix is world-readable and its
    # temp directories are world-writable.
    PREFIX=$(mktemp -d /tmp/neonpro-bench-XXXXXX)
    trap cleanup EXIT
    chmod 755 "$PREFIX"
    mkdir -p "$PREFIX/html"
    for temp_name in client_body proxy fastcgi uwsgi scgi; do
        mkdir -p "$PREFIX/tmp/$temp_name"
    done
    chmod -R 777 "$PREFIX/tmp"
    printf '%s\n' "$STATIC_BODY" > "$PREFIX/html/$STATIC_FILE"
    chmod 644 "$PREFIX/html/$STATIC_FILE"
    MODULE=$PREFIX/ngx_neonpro_module.so
    cp "$MODULE_SOURCE" "$MODULE"

    read -r PORT_A PORT_B PORT_C PORT_D PORT_E PORT_UPSTREAM PORT_F PORT_G PORT_H <<< "$(free_ports 9)"
}

STARTED_PIDS=()

# Stop one nginx that this script started: SIGQUIT, then SIGKILL after
# WAIT_SECONDS.
stop_process() {
    local pid=$1 waited=0
    if ! kill -0 "$pid" 2> /dev/null; then
        forget_pid "$pid"
        return 0
    fi
    kill -QUIT "$pid" 2> /dev/null || true
    while kill -0 "$pid" 2> /dev/null && [[ $waited -lt $((WAIT_SECONDS * 10)) ]]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2> /dev/null; then
        echo "bench: nginx $pid did not stop within $WAIT_SECONDS s of SIGQUIT, sending SIGKILL" >&2
        kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
    forget_pid "$pid"
}

# Drop a stopped PID from STARTED_PIDS, so that cleanup never signals a
# process that later reuses it.
forget_pid() {
    local kept=() started
    for started in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        [[ $started == "$1" ]] || kept+=("$started")
    done
    STARTED_PIDS=("${kept[@]+"${kept[@]}"}")
}

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        stop_process "$pid"
    done
    cp "$PREFIX"/*-error.log "$RESULTS"/ 2> /dev/null || true
    rm -rf "$PREFIX"
}

# Print N ports of 127.0.0.1 that were free when this ran.
free_ports() {
    "$PYTHON" - "$1" << 'EOF'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}

# Render bench/conf/NAME.conf into PREFIX/NAME.conf, replacing the @NAME@
# placeholders, and check the result with nginx -t.
render_config() {
    local name=$1 unreplaced
    sed -e "s|@MODULE@|$MODULE|g" -e "s|@PREFIX@|$PREFIX|g" \
        -e "s|@PORT_A@|$PORT_A|g" -e "s|@PORT_B@|$PORT_B|g" -e "s|@PORT_C@|$PORT_C|g" \
        -e "s|@PORT_D@|$PORT_D|g" -e "s|@PORT_E@|$PORT_E|g" \
        -e "s|@PORT_UPSTREAM@|$PORT_UPSTREAM|g" \
        -e "s|@PORT_F@|$PORT_F|g" -e "s|@PORT_G@|$PORT_G|g" -e "s|@PORT_H@|$PORT_H|g" \
        -e "s|@JWT_KID@|$JWT_KID|g" \
        "$BENCH_DIR/conf/$name.conf" > "$PREFIX/$name.conf"
    unreplaced=$(grep -v '^ *#' "$PREFIX/$name.conf" | grep -o '@[A-Z_]*@' | head -1 || true)
    [[ -z $unreplaced ]] || fail "unknown placeholder $unreplaced in bench/conf/$name.conf"
    "$NGINX" -t -q -p "$PREFIX/" -c "$PREFIX/$name.conf" -e "$PREFIX/$name-error.log" \
        || fail "nginx -t rejected bench/conf/$name.conf (rendered at $PREFIX/$name.conf)"
}

# Run `LAUNCHER... nginx` with PREFIX/NAME.conf in the background and wait
# up to TIMEOUT seconds until it accepts connections on PORT. Sets
# STARTED_MASTER and STARTED_WORKER. With `master_process off` both are the
# one nginx process.
launch_nginx() {
    local name=$1 port=$2 timeout=$3 waited=0
    shift 3
    "$@" "$NGINX" -p "$PREFIX/" -c "$PREFIX/$name.conf" -e "$PREFIX/$name-error.log" \
        < /dev/null > "$PREFIX/$name.stdout" 2>&1 &
    STARTED_MASTER=$!
    STARTED_PIDS+=("$STARTED_MASTER")

    STARTED_WORKER=
    while [[ -z $STARTED_WORKER ]] || ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; do
        kill -0 "$STARTED_MASTER" 2> /dev/null \
            || fail "nginx ($name) exited at start; $PREFIX/$name.stdout and $name-error.log:" \
                "$(tail -5 "$PREFIX/$name.stdout" "$PREFIX/$name-error.log" 2> /dev/null)"
        [[ $waited -lt $((timeout * 10)) ]] \
            || fail "nginx ($name) did not accept connections on 127.0.0.1:$port within $timeout s"
        sleep 0.1
        waited=$((waited + 1))
        if grep -q '^master_process off;' "$PREFIX/$name.conf"; then
            STARTED_WORKER=$STARTED_MASTER
        else
            STARTED_WORKER=$(pgrep -P "$STARTED_MASTER" | head -1 || true)
        fi
    done
}

# Start nginx with bench/conf/NAME.conf pinned to CPU and wait for PORT.
start_nginx() {
    local name=$1 cpu=$2 port=$3
    render_config "$name"
    launch_nginx "$name" "$port" "$WAIT_SECONDS" taskset -c "$cpu"
}

# Print the status line and the headers of a response without Date, sorted,
# so that two responses can be compared with diff.
normalize_headers() {
    tr -d '\r' < "$1" | grep -v '^$' | {
        read -r status_line
        echo "$status_line"
        grep -iv '^date:' | LC_ALL=C sort
    }
}

# Check that A, B and C return 200, the static file and the same headers,
# and that A rejects a request without the legal-basis headers. The
# comparison is fair only if all three send the same response.
check_lgpd_variants() {
    local url_a=$1 url_b=$2 url_c=$3 variant url expected status
    for variant in A B C; do
        case $variant in
            A) url=$url_a ;;
            B) url=$url_b ;;
            C) url=$url_c ;;
        esac
        curl -sS --max-time 5 "${LEGAL_HEADERS[@]}" -D "$RESULTS/headers-$variant.raw" \
            -o "$RESULTS/body-$variant.txt" "$url" || fail "GET $url ($variant) failed"
        normalize_headers "$RESULTS/headers-$variant.raw" > "$RESULTS/headers-$variant.txt"
        [[ $(head -1 "$RESULTS/headers-$variant.txt") == "HTTP/1.1 200 OK" ]] \
            || fail "$variant: expected 200 from $url, got: $(head -1 "$RESULTS/headers-$variant.txt")"
        [[ $(cat "$RESULTS/body-$variant.txt") == "$STATIC_BODY" ]] \
            || fail "$variant: the body of $url is not the static file, see $RESULTS/body-$variant.txt"
    done

    for expected in \
        "Cache-Control: no-store, no-cache, must-revalidate, private" \
        "X-Data-Classification: patient" \
        "X-LGPD-Processing-Basis: health_protection" \
        "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload"; do
        grep -qxF "$expected" "$RESULTS/headers-A.txt" \
            || fail "A: header '$expected' missing, is the LGPD filter running? See $RESULTS/headers-A.txt"
    done
    for variant in B C; do
        diff -u "$RESULTS/headers-A.txt" "$RESULTS/headers-$variant.txt" > "$RESULTS/headers-A-$variant.diff" \
            || fail "the headers of $variant differ from those of A, so the comparison would not be fair;" \
                "make bench/conf/lgpd.conf send what the filter sends:"$'\n'"$(cat "$RESULTS/headers-A-$variant.diff")"
    done

    status=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$url_a")
    [[ $status == 403 ]] \
        || fail "A: expected 403 without X-LGPD-* request headers, got $status; is neonpro_legal_basis off?"
    echo "  checked: A, B and C return 200 with the same $(($(wc -l < "$RESULTS/headers-A.txt") - 1))" \
        "headers; A rejects a request without legal basis"
}

# Check that D and E return 200 with the upstream's body for the wrk POST,
# and that D rejects invalid JSON, which shows that it parses the body.
check_agent_variants() {
    local url_d=$1 url_e=$2 variant url status
    for variant in D E; do
        case $variant in
            D) url=$url_d ;;
            E) url=$url_e ;;
        esac
        status=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' --data-binary "$POST_BODY" \
            -D "$RESULTS/headers-$variant.raw" -o "$RESULTS/body-$variant.txt" -w '%{http_code}' "$url") \
            || fail "POST $url ($variant) failed"
        [[ $status == 200 ]] \
            || fail "$variant: expected 200 from POST $url, got $status: $(cat "$RESULTS/body-$variant.txt")"
        [[ $(cat "$RESULTS/body-$variant.txt") == '{"ok":true}' ]] \
            || fail "$variant: expected the upstream's body {\"ok\":true}, got: $(cat "$RESULTS/body-$variant.txt")"
    done

    status=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' --data-binary '{"query":' "$url_d")
    [[ $status == 400 ]] \
        || fail "D: expected 400 for an invalid JSON body, got $status; is neonpro_agent_pass in bench/conf/agent.conf?"
    echo "  checked: D and E return 200 with the upstream's body; D rejects invalid JSON with 400"
}

# Generate the RSA key pair of the JWT comparison in PREFIX, with the public
# key in PREFIX/jwt-rs256.pem where bench/conf/jwt.conf reads it, and a
# second private key that nginx does not know. Sets JWT_TOKEN, an RS256 token
# signed with the first key, and JWT_WRONG_TOKEN, a token with the same
# header and claims signed with the second key.
make_jwt_tokens() {
    local name
    for name in jwt-rs256 jwt-wrong; do
        openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$JWT_KEY_BITS" \
            -out "$PREFIX/$name.key" 2> "$PREFIX/$name.log" \
            || fail "openssl genpkey failed: $(cat "$PREFIX/$name.log")"
    done
    openssl pkey -in "$PREFIX/jwt-rs256.key" -pubout -out "$PREFIX/jwt-rs256.pem" 2> "$PREFIX/jwt-rs256.log" \
        || fail "openssl pkey -pubout failed: $(cat "$PREFIX/jwt-rs256.log")"
    chmod 644 "$PREFIX/jwt-rs256.pem"

    JWT_TOKEN=$(mint_jwt "$PREFIX/jwt-rs256.key")
    JWT_WRONG_TOKEN=$(mint_jwt "$PREFIX/jwt-wrong.key")
}

# Print an RS256 token signed with the PEM private key in KEY_FILE, with the
# claims that nginx maps to the identity by default.
mint_jwt() {
    "$PYTHON" - "$1" "$JWT_KID" "$JWT_LIFETIME_SECONDS" << 'EOF'
import sys
import time

import jwt

key_file, kid, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = int(time.time())
claims = {"sub": "bench-user", "clinic_id": "clinic-1", "role": "CLINICAL_STAFF",
          "iat": now, "exp": now + lifetime}
with open(key_file, "rb") as key:
    print(jwt.encode(claims, key.read(), algorithm="RS256", headers={"kid": kid}))
EOF
}

# Check that F, G and H return 200, the static file and the same headers to
# the token that wrk sends. G and H must return 401 "bad signature" to a
# token signed with another key, and 401 to a request without a token. G
# gets the wrong token after it has cached the right one, so the check also
# shows that its cache lets no other token through.
check_jwt_variants() {
    local url_f=$1 url_g=$2 url_h=$3 variant url status
    for variant in F G H; do
        case $variant in
            F) url=$url_f ;;
            G) url=$url_g ;;
            H) url=$url_h ;;
        esac
        curl -sS --max-time 5 -H "Authorization: Bearer $JWT_TOKEN" -D "$RESULTS/headers-$variant.raw" \
            -o "$RESULTS/body-$variant.txt" "$url" || fail "GET $url ($variant) failed"
        normalize_headers "$RESULTS/headers-$variant.raw" > "$RESULTS/headers-$variant.txt"
        [[ $(head -1 "$RESULTS/headers-$variant.txt") == "HTTP/1.1 200 OK" ]] \
            || fail "$variant: expected 200 from $url, got: $(head -1 "$RESULTS/headers-$variant.txt")" \
                "$(cat "$RESULTS/body-$variant.txt")"
        [[ $(cat "$RESULTS/body-$variant.txt") == "$STATIC_BODY" ]] \
            || fail "$variant: the body of $url is not the static file, see $RESULTS/body-$variant.txt"
    done
    for variant in G H; do
        diff -u "$RESULTS/headers-F.txt" "$RESULTS/headers-$variant.txt" > "$RESULTS/headers-F-$variant.diff" \
            || fail "the headers of $variant differ from those of F, so the comparison would not be fair:" \
                $'\n'"$(cat "$RESULTS/headers-F-$variant.diff")"
    done

    for variant in G H; do
        case $variant in
            G) url=$url_g ;;
            H) url=$url_h ;;
        esac
        curl -sS --max-time 5 -H "Authorization: Bearer $JWT_WRONG_TOKEN" \
            -D "$RESULTS/headers-$variant-wrong.raw" -o "$RESULTS/body-$variant-wrong.txt" "$url" \
            || fail "GET $url ($variant, token of another key) failed"
        normalize_headers "$RESULTS/headers-$variant-wrong.raw" > "$RESULTS/headers-$variant-wrong.txt"
        [[ $(head -1 "$RESULTS/headers-$variant-wrong.txt") == "HTTP/1.1 401 Unauthorized" ]] \
            || fail "$variant: expected 401 for a token signed with another key, got" \
                "'$(head -1 "$RESULTS/headers-$variant-wrong.txt")'; is neonpro_auth_jwt in bench/conf/jwt.conf?"
        grep -qi '^WWW-Authenticate: Bearer .*error_description="bad signature"' \
            "$RESULTS/headers-$variant-wrong.txt" \
            || fail "$variant: expected WWW-Authenticate with error_description=\"bad signature\" for a" \
                "token signed with another key, see $RESULTS/headers-$variant-wrong.txt"

        status=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$url")
        [[ $status == 401 ]] || fail "$variant: expected 401 without a token, got $status"
    done
    echo "  checked: F, G and H return 200 with the same $(($(wc -l < "$RESULTS/headers-F.txt") - 1))" \
        "headers to the token; G and H reject with 401 a token signed with another key and no token"
}
