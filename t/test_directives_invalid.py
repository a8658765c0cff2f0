"""`nginx -t` on bad and good values of every ngx_neonpro directive.

docs/directives.md: a bad value stops the configuration with a message that
quotes the value and lists what is allowed. Each bad case below is one
location (or server) snippet and the text that stderr must contain in
double quotes.
"""

import pytest

from conftest import AGENT_UPSTREAM


def in_location(lines):
    return AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    location /api/ {
        """ + lines + """
    }
}
"""


def in_server(lines):
    return AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    """ + lines + """
}
"""


# (config, text that stderr must quote)
BAD_VALUES = [
    # neonpro_data_class
    pytest.param(in_location("neonpro_data_class secret;"), "secret", id="class-unknown"),
    pytest.param(in_location("neonpro_data_class credentialed;"), "credentialed",
                 id="class-credentialed-is-only-a-cache-class"),
    pytest.param(in_location("neonpro_data_class on;"), "on", id="class-on"),
    pytest.param(in_location("neonpro_data_class error;"), "error",
                 id="class-error-is-only-a-cache-class"),
    # neonpro_cache_control
    pytest.param(in_location('neonpro_cache_control private "no-store";'), "private",
                 id="cache-control-unknown-class"),
    pytest.param(in_location('neonpro_cache_control sensitive "no-store";'), "sensitive",
                 id="cache-control-class-alias"),
    pytest.param(in_location('neonpro_cache_control api "no-store" pragma=;'), "pragma=",
                 id="cache-control-empty-pragma"),
    pytest.param(in_location('neonpro_cache_control api "no-store" prgama=no-cache;'),
                 "prgama=no-cache", id="cache-control-misspelt-parameter"),
    pytest.param(in_location('neonpro_cache_control api "no-store" expires=;'), "expires=",
                 id="cache-control-empty-expires"),
    # An empty value has nothing to quote, so the message names the class.
    pytest.param(in_location('neonpro_cache_control api "";'), "api",
                 id="cache-control-empty-value"),
    pytest.param(in_location("neonpro_cache_control api;"), "neonpro_cache_control",
                 id="cache-control-missing-value"),
    # neonpro_security_header
    pytest.param(in_location("neonpro_security_header Permissions-Policy \"camera 'none'\";"),
                 "camera 'none'", id="permissions-policy-feature-policy-syntax"),
    pytest.param(in_location('neonpro_security_header Permissions-Policy "camera=(self";'),
                 "camera=(self", id="permissions-policy-unclosed-list"),
    pytest.param(in_location('neonpro_security_header Permissions-Policy "Camera=()";'),
                 "Camera=()", id="permissions-policy-uppercase-key"),
    pytest.param(in_location('neonpro_security_header Permissions-Policy "camera=(self),";'),
                 "camera=(self),", id="permissions-policy-trailing-comma"),
    pytest.param(in_location("neonpro_security_header X-Frame-Options;"),
                 "neonpro_security_header", id="security-header-missing-value"),
    # neonpro_compliance_header
    pytest.param(in_location("neonpro_compliance_header X-Data-Retention 5-years always;"),
                 "always", id="compliance-header-unknown-flag"),
    # neonpro_legal_bases and neonpro_legal_purposes
    pytest.param(in_location("neonpro_legal_bases consent Marketing;"), "Marketing",
                 id="basis-uppercase"),
    pytest.param(in_location("neonpro_legal_bases consent health-protection;"),
                 "health-protection", id="basis-dash"),
    pytest.param(in_location("neonpro_legal_bases " + "a" * 65 + ";"), "a" * 65,
                 id="basis-65-chars"),
    pytest.param(in_location('neonpro_legal_bases "";'), "", id="basis-empty"),
    pytest.param(in_location("neonpro_legal_purposes medical_care billing.v2;"),
                 "billing.v2", id="purpose-dot"),
    # neonpro_agent_pass
    pytest.param(in_location("neonpro_agent_pass 127.0.0.1:8001;"), "127.0.0.1:8001",
                 id="agent-pass-no-scheme"),
    pytest.param(in_location("neonpro_agent_pass https://ai_agent;"), "https://ai_agent",
                 id="agent-pass-https"),
    pytest.param(in_location("neonpro_agent_pass http://ai_agent/v1/chat;"),
                 "http://ai_agent/v1/chat", id="agent-pass-with-uri"),
    pytest.param(in_server("neonpro_agent_pass http://ai_agent;"), "neonpro_agent_pass",
                 id="agent-pass-in-server"),
    # neonpro_agent_next_upstream
    pytest.param(in_location("neonpro_agent_pass http://ai_agent;\n"
                             "neonpro_agent_next_upstream error http_418;"),
                 "http_418", id="next-upstream-unknown-flag"),
    pytest.param(in_location("neonpro_agent_pass http://ai_agent;\n"
                             "neonpro_agent_next_upstream updating;"),
                 "updating", id="next-upstream-proxy-only-flag"),
    pytest.param(in_location("neonpro_agent_next_upstream_tries many;"), "many",
                 id="next-upstream-tries-not-number"),
    pytest.param(in_location("neonpro_agent_next_upstream_timeout soon;"), "soon",
                 id="next-upstream-timeout-not-time"),
    # neonpro_agent_contract
    pytest.param(in_location("neonpro_agent_contract graphql;"), "graphql",
                 id="contract-unknown"),
    # sizes and times
    pytest.param(in_location("neonpro_agent_max_message_length 10q;"), "10q",
                 id="max-message-length-not-size"),
    pytest.param(in_location("neonpro_agent_buffer_size big;"), "big",
                 id="buffer-size-not-size"),
    pytest.param(in_location("neonpro_agent_connect_timeout forever;"), "forever",
                 id="connect-timeout-not-time"),
    pytest.param(in_location("neonpro_agent_send_timeout 5x;"), "5x",
                 id="send-timeout-not-time"),
    pytest.param(in_location("neonpro_agent_read_timeout -1;"), "-1",
                 id="read-timeout-negative"),
    # on | off
    pytest.param(in_location("neonpro_compliance_headers maybe;"), "maybe",
                 id="compliance-headers-flag"),
    pytest.param(in_location("neonpro_security_headers yes;"), "yes",
                 id="security-headers-flag"),
    pytest.param(in_location("neonpro_data_class_marker 1;"), "1", id="marker-flag"),
    pytest.param(in_location("neonpro_legal_basis required;"), "required",
                 id="legal-basis-flag"),
    pytest.param(in_location("neonpro_json_errors true;"), "true", id="json-errors-flag"),
    # neonpro_health
    pytest.param(in_location("neonpro_health verbose;"), "neonpro_health",
                 id="health-with-argument"),
    pytest.param(in_server("neonpro_health;"), "neonpro_health", id="health-in-server"),
    # Cache-Control and Expires values
    pytest.param(in_location('neonpro_cache_control api "max-age=abc";'), "max-age=abc",
                 id="cache-control-age-not-a-number"),
    pytest.param(in_location('neonpro_cache_control api "public max-age=60";'),
                 "public max-age=60", id="cache-control-missing-comma"),
    pytest.param(in_location('neonpro_cache_control api "no-store" expires=tomorrow;'),
                 "tomorrow", id="cache-control-expires-not-a-date"),
    # two content handlers in one location, in either order
    pytest.param(in_location("proxy_pass http://ai_agent; neonpro_agent_pass http://ai_agent;"),
                 "neonpro_agent_pass", id="agent-pass-after-proxy-pass"),
    pytest.param(in_location("neonpro_agent_pass http://ai_agent; proxy_pass http://ai_agent;"),
                 "neonpro_agent_pass", id="proxy-pass-after-agent-pass"),
    # chat limits and the chat agent
    pytest.param(in_location("neonpro_chat; neonpro_chat_heartbeat often;"), "often",
                 id="chat-heartbeat-not-a-time"),
    pytest.param(in_location("neonpro_chat; neonpro_chat_send_queue big;"), "big",
                 id="chat-send-queue-not-a-size"),
    pytest.param(in_location("neonpro_chat; neonpro_chat_connections_per_user many;"), "many",
                 id="chat-connections-per-user-not-a-number"),
    pytest.param(in_location("neonpro_chat; neonpro_chat_agent 127.0.0.1:8001;"),
                 "127.0.0.1:8001", id="chat-agent-without-scheme"),
    pytest.param(in_location("neonpro_chat; neonpro_chat_agent_history lots;"), "lots",
                 id="chat-agent-history-not-a-number"),
]


@pytest.mark.parametrize("config, quoted", BAD_VALUES)
def test_bad_value_fails(nginx_t, config, quoted):
    returncode, stderr = nginx_t(config)

    assert returncode != 0, stderr
    assert "[emerg]" in stderr
    assert f'"{quoted}"' in stderr


# (config, words that the message must list as allowed)
ALLOWED_LISTS = [
    pytest.param(in_location("neonpro_data_class secret;"),
                 ["off", "patient", "sensitive", "medical", "api", "image", "static"],
                 id="data-class"),
    pytest.param(in_location('neonpro_cache_control private "no-store";'),
                 ["patient", "api", "credentialed", "image", "static", "error"],
                 id="cache-control-class"),
    pytest.param(in_location("neonpro_agent_contract graphql;"), ["json", "chat", "query"],
                 id="contract"),
    pytest.param(in_location("neonpro_agent_next_upstream http_404;"),
                 ["neonpro_agent_next_upstream", "error", "timeout", "invalid_header",
                  "non_idempotent", "http_500", "http_502", "http_503", "http_504", "off"],
                 id="next-upstream"),
]


@pytest.mark.parametrize("config, allowed", ALLOWED_LISTS)
def test_bad_value_lists_allowed(nginx_t, config, allowed):
    returncode, stderr = nginx_t(config)

    assert returncode != 0
    for word in allowed:
        assert f'"{word}"' in stderr or f" {word}" in stderr, word


FULL_CONFIG = AGENT_UPSTREAM + """
neonpro_data_class api;
neonpro_cache_control api "public, max-age=60, stale-while-revalidate=30";
neonpro_cache_control patient "no-store, no-cache, must-revalidate, private" pragma=no-cache expires=0;
neonpro_cache_control credentialed "private, max-age=60";
neonpro_cache_control image "public, max-age=86400" expires=0;
neonpro_cache_control static "public, max-age=31536000, immutable";
neonpro_cache_control error "no-store" pragma=no-cache;
neonpro_data_class_marker off;
neonpro_legal_bases consent contract legal_obligation vital_interest legitimate_interest public_task health_protection medical_assistance public_health health_research pharmaceutical_vigilance;
neonpro_legal_purposes medical_care appointment_scheduling billing research legal_compliance;
neonpro_compliance_headers on;
neonpro_compliance_header X-Data-Residency brazil-only;
neonpro_compliance_header X-DPO-Contact dpo@clinic.example patient;
neonpro_compliance_header X-ANVISA-Compliant off;
neonpro_security_headers on;
neonpro_security_header X-Frame-Options SAMEORIGIN;
neonpro_security_header Permissions-Policy "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()";
neonpro_security_header Cross-Origin-Opener-Policy same-origin;
neonpro_security_header Referrer-Policy off;
neonpro_json_errors on;
neonpro_agent_contract json;
neonpro_agent_max_message_length 16k;
neonpro_agent_connect_timeout 5s;
neonpro_agent_send_timeout 60s;
neonpro_agent_read_timeout 60s;
neonpro_agent_buffer_size 8k;
neonpro_agent_next_upstream error timeout invalid_header http_500 http_502 http_503 http_504 non_idempotent;
neonpro_agent_next_upstream_tries 3;
neonpro_agent_next_upstream_timeout 10s;

server {
    listen 127.0.0.1:{port};
    neonpro_data_class static;
    neonpro_legal_basis off;

    location = /v1/chat {
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }
    location = /api/agent/query {
        neonpro_agent_pass http://127.0.0.1:{agent_port};
        neonpro_agent_contract query;
        neonpro_agent_next_upstream off;
    }
    location /api/patients/ {
        neonpro_data_class sensitive;
        neonpro_legal_basis on;
        neonpro_legal_bases consent custom_basis_2;
        proxy_pass http://ai_agent;
    }
    location /api/medical-records/ { neonpro_data_class medical; proxy_pass http://ai_agent; }
    location /images/ { neonpro_data_class image; neonpro_json_errors off; }
    location /off/ { neonpro_data_class off; neonpro_data_class_marker on; }
    location = /health { neonpro_health; }
}
"""

GOOD_CONFIGS = [
    pytest.param(FULL_CONFIG, id="every-directive"),
    pytest.param(in_location("neonpro_data_class patient;"), id="patient-class-alone"),
    pytest.param(in_location("neonpro_legal_bases " + "a" * 64 + ";"), id="basis-64-chars"),
    pytest.param(in_location('neonpro_security_header Permissions-Policy "geolocation=()";'),
                 id="permissions-policy-empty-list"),
    pytest.param(in_location(
        'neonpro_security_header Permissions-Policy '
        '"camera=(self \\"https://clinic.example\\"), fullscreen=*";'),
        id="permissions-policy-origin-string"),
    pytest.param(in_location(
        'neonpro_cache_control api "no-cache" "expires=Thu, 01 Jan 1970 00:00:00 GMT";'),
        id="expires-http-date"),
]


@pytest.mark.parametrize("config", GOOD_CONFIGS)
def test_good_config_passes(nginx_t, config):
    returncode, stderr = nginx_t(config)

    assert returncode == 0, stderr
    assert "[emerg]" not in stderr


@pytest.mark.parametrize("source", ["'unsafe-inline'", "'unsafe-eval'"])
def test_unsafe_csp_accepted_with_warning(nginx_t, source):
    returncode, stderr = nginx_t(in_location(
        f"neonpro_security_header Content-Security-Policy \"default-src 'self'; "
        f"script-src 'self' {source}\";"
    ))

    assert returncode == 0, stderr
    warnings = [line for line in stderr.splitlines() if "[warn]" in line]
    assert any(source in line for line in warnings), stderr
