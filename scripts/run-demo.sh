#!/usr/bin/env bash
# Serves the demo: the reference agent on 127.0.0.1:8001 and nginx with
# conf.example/ on 127.0.0.1:8080.  Stays in the foreground until Ctrl-C or
# SIGTERM, then stops both by PID.  Called by `make run` after the build.

set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
prefix="$repo/build/run"
module="$repo/build/nginx/objs/ngx_neonpro_module.so"
agent_port=8001
nginx_port=8080

agent_pid=""
nginx_pid=""

stop_all() {
    trap - INT TERM EXIT
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
    fi
    if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
        kill -TERM "$agent_pid" 2>/dev/null || true
    fi
    for pid in $nginx_pid $agent_pid; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    echo "stopped"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if [ ! -f "$module" ]; then
    echo "run-demo: $module is missing, run \"make build\" first" >&2
    exit 1
fi

for port in $agent_port $nginx_port; do
    if port_in_use "$port"; then
        echo "run-demo: port $port on 127.0.0.1 is already in use; stop" \
             "whatever listens there and retry" >&2
        exit 1
    fi
done

mkdir -p "$prefix/logs" "$prefix/tmp"
for dir in client_body proxy fastcgi uwsgi scgi cache; do
    mkdir -p "$prefix/tmp/$dir"
done
# nginx workers run as "nobody" and write their temporary files here.
chmod -R 0777 "$prefix/tmp"
ln -sfn "$repo/build/nginx/objs" "$prefix/modules"
ln -sfn "$repo/conf.example/html" "$prefix/html"

trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

cd "$repo"
/usr/bin/python3 -m uvicorn --app-dir docker/agent app:app \
    --host 127.0.0.1 --port "$agent_port" --timeout-keep-alive 75 \
    --no-access-log > "$prefix/logs/agent.log" 2>&1 &
agent_pid=$!

for _ in $(seq 100); do
    if curl -fs "http://127.0.0.1:$agent_port/health" > /dev/null; then
        break
    fi
    if ! kill -0 "$agent_pid" 2>/dev/null; then
        echo "run-demo: the agent exited; its log:" >&2
        cat "$prefix/logs/agent.log" >&2
        exit 1
    fi
    sleep 0.1
done

/usr/sbin/nginx -t -q -p "$prefix" -c "$repo/conf.example/nginx.conf" \
    -e "$prefix/logs/error.log"

/usr/sbin/nginx -p "$prefix" -c "$repo/conf.example/nginx.conf" \
    -e "$prefix/logs/error.log" -g "daemon off;" &
nginx_pid=$!

for _ in $(seq 100); do
    port_in_use "$nginx_port" && break
    if ! kill -0 "$nginx_pid" 2>/dev/null; then
        echo "run-demo: nginx exited; its error log:" >&2
        tail -20 "$prefix/logs/error.log" >&2
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

ngx_neonpro demo
  http://127.0.0.1:$nginx_port/                     demo page
  http://127.0.0.1:$nginx_port/health               nginx's own health JSON
  http://127.0.0.1:$nginx_port/api/appointments     api class
  http://127.0.0.1:$nginx_port/api/patients/1       patient class (legal basis required)
  http://127.0.0.1:$nginx_port/v1/chat              chat with the agent (POST)
  http://127.0.0.1:$nginx_port/chat/                chat page (WebSocket /ws/chat)
  http://127.0.0.1:$agent_port/                     the reference agent, direct

The API, /v1/chat and the chat need a token; make demo-token prints one.

Try:
  TOKEN=\$(make -s demo-token)
  curl -i http://127.0.0.1:$nginx_port/api/patients/1 -H "Authorization: Bearer \$TOKEN"
  curl -i http://127.0.0.1:$nginx_port/api/patients/1 -H "Authorization: Bearer \$TOKEN" \\
       -H 'X-LGPD-Purpose: medical_care' -H 'X-LGPD-Legal-Basis: health_protection'
  http://127.0.0.1:$nginx_port/chat/#token=<the token>   in a browser

Logs: $prefix/logs/   Ctrl-C stops everything.
MSG

# Returns when either process exits or a signal arrives.
wait -n "$agent_pid" "$nginx_pid" || true
echo "run-demo: a process exited, stopping the other" >&2
exit 1
