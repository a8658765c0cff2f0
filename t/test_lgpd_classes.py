"""Headers that the LGPD policy filter writes for each data class.

Each test starts nginx with one data class on every location of a server and
checks Cache-Control, Pragma, Expires, the compliance headers and the
security headers against the defaults of docs/directives.md. The filter owns
those names on every response, so the checks cover agent replies (200, 304,
404, 500), files served by nginx (200, 304) and nginx's own error pages
(404, 405, 413, 502, 503), with and without `add_header`/`expires` values
that the filter must replace.
"""

import email.utils
import json
from dataclasses import dataclass, field

import httpx
import pytest

from conftest import (
    AGENT_UPSTREAM,
    CACHE_POLICY,
    COMPLIANCE_HEADERS,
    LEGAL_HEADERS,
    PATIENT_COMPLIANCE_HEADERS,
    PROXY_TO_AGENT,
    SECURITY_HEADERS,
    free_port,
)

# Synthetic patient 1 of docker/agent/data.py.
PATIENT_ID = "1"

# Every value of neonpro_data_class that turns the filter on, with the policy
# class it selects.
POLICY_OF_CLASS = {
    "patient": "patient",
    "sensitive": "patient",
    "medical": "patient",
    "api": "api",
    "image": "image",
    "static": "static",
}



def cache_policy_for(data_class, status, credentialed=False):
    """Return the neonpro_cache_control class that applies to one response.

    Patient responses keep the patient policy at every status. Other classes
    get the error policy on 4xx and 5xx, and api requests that carried
    Authorization or Cookie get the credentialed policy otherwise.
    """
    policy = POLICY_OF_CLASS[data_class]
    if policy == "patient":
        return "patient"
    if status >= 400:
        return "error"
    if credentialed and policy == "api":
        return "credentialed"
    return policy


FILE_MTIME = 1_700_000_000
FILES = {
    "html/files/logo.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
    "html/files/custom404.html": "<p>custom not found page</p>\n",
}

# One server in which every location has the class under test. {class},
# {server_extra} and {refused_port} are filled in by server_config().
SERVER = AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    {server_extra}

    location /api/ {
        neonpro_data_class {class};
        """ + PROXY_TO_AGENT + """
    }

    location /files/ {
        neonpro_data_class {class};
        client_max_body_size 16;
    }

    location /refused/ {
        neonpro_data_class {class};
        proxy_pass http://127.0.0.1:{refused_port};
    }

    location = /unavailable {
        neonpro_data_class {class};
        return 503;
    }

    location = /moved {
        neonpro_data_class {class};
        return 301 /files/logo.png;
    }
}
"""

# Values for names that the filter owns. It must replace every one of them.
# Compliance names get their own test below, so that a failure there does
# not hide the cache and security checks of the whole matrix.
COMPETING_HEADERS = """
    expires 1h;
    add_header Cache-Control "public, max-age=1" always;
    add_header Pragma "legacy" always;
    add_header Expires "Thu, 01 Jan 2099 00:00:00 GMT" always;
    add_header X-Frame-Options SAMEORIGIN always;
    add_header Strict-Transport-Security "max-age=1" always;
"""

COMPETING_COMPLIANCE_HEADERS = """
    add_header X-LGPD-Compliant "false" always;
    add_header X-Data-Residency "anywhere" always;
    add_header X-Data-Retention "forever" always;
    add_header X-Data-Classification "public" always;
"""

CONFIG_VARIANTS = {"upstream-only": "", "add_header-and-expires": COMPETING_HEADERS}


def server_config(data_class, server_extra=""):
    return (
        SERVER.replace("{class}", data_class)
        .replace("{server_extra}", server_extra)
        .replace("{refused_port}", str(free_port()))
    )


@dataclass
class Probe:
    """One request and the status that nginx must return for it."""

    method: str
    path: str
    status: int
    fault: str | None = None
    # "etag" sends If-None-Match with the agent's ETag for the path,
    # "last-modified" sends If-Modified-Since with the file's mtime.
    conditional: str | None = None
    body: bytes | None = None
    headers: dict = field(default_factory=dict)


PROBES = {
    "agent-200": Probe("GET", f"/api/patients/{PATIENT_ID}", 200),
    "agent-clinics-200": Probe("GET", "/api/clinics", 200),
    "agent-telemedicine-200": Probe("GET", "/api/telemedicine/sessions", 200),
    "agent-query-200": Probe("POST", "/api/agent/query", 200,
                             body=b'{"query": "consultas de hoje"}',
                             headers={"Content-Type": "application/json"}),
    "agent-304": Probe("GET", f"/api/patients/{PATIENT_ID}", 304, conditional="etag"),
    "agent-404": Probe("GET", "/api/patients/no-such-patient", 404),
    "agent-500": Probe("GET", f"/api/patients/{PATIENT_ID}", 500, fault="http_500"),
    "file-200": Probe("GET", "/files/logo.png", 200),
    "file-head-200": Probe("HEAD", "/files/logo.png", 200),
    "file-206": Probe("GET", "/files/logo.png", 206, headers={"Range": "bytes=0-3"}),
    "file-304": Probe("GET", "/files/logo.png", 304, conditional="last-modified"),
    "file-404": Probe("GET", "/files/missing.png", 404),
    "file-405": Probe("POST", "/files/logo.png", 405, body=b"{}"),
    "file-413": Probe("POST", "/files/logo.png", 413, body=b"x" * 64),
    "refused-502": Probe("GET", "/refused/anything", 502),
    "return-503": Probe("GET", "/unavailable", 503),
    "return-301": Probe("GET", "/moved", 301),
}


def send_probe(ng, agent, probe, extra_headers=None):
    headers = dict(LEGAL_HEADERS)
    headers.update(probe.headers)
    headers.update(extra_headers or {})
    if probe.conditional == "etag":
        direct = httpx.get(agent.url + probe.path)
        assert "etag" in direct.headers, f"the agent sent no ETag for {probe.path}"
        headers["If-None-Match"] = direct.headers["etag"]
    elif probe.conditional == "last-modified":
        headers["If-Modified-Since"] = email.utils.formatdate(FILE_MTIME, usegmt=True)
    if probe.fault:
        agent.fault(probe.fault, count=1)
    return ng.request(probe.method, probe.path, headers=headers, content=probe.body)


def start_server(nginx, data_class, server_extra=""):
    ng = nginx(server_config(data_class, server_extra), files=FILES)
    ng.write_file("html/files/logo.png", FILES["html/files/logo.png"], mtime=FILE_MTIME)
    return ng


def assert_cache_policy(response, policy):
    cache_control, pragma, expires = CACHE_POLICY[policy]
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == ([pragma] if pragma else [])
    assert response.headers.get_list("Expires") == ([expires] if expires else [])


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name


def assert_compliance_headers(response, policy):
    for name, value in COMPLIANCE_HEADERS.items():
        expected = [value] if policy in ("api", "patient") else []
        assert response.headers.get_list(name) == expected, name
    for name, value in PATIENT_COMPLIANCE_HEADERS.items():
        expected = [value] if policy == "patient" else []
        assert response.headers.get_list(name) == expected, name


@pytest.mark.parametrize("variant", CONFIG_VARIANTS)
@pytest.mark.parametrize("probe_name", PROBES)
@pytest.mark.parametrize("data_class", POLICY_OF_CLASS)
def test_class_headers_on_every_status(nginx, clean_agent, data_class, probe_name, variant):
    policy = POLICY_OF_CLASS[data_class]
    probe = PROBES[probe_name]
    ng = start_server(nginx, data_class, CONFIG_VARIANTS[variant])

    response = send_probe(ng, clean_agent, probe)

    assert response.status_code == probe.status, response.text
    assert_cache_policy(response, cache_policy_for(data_class, probe.status))
    assert_compliance_headers(response, policy)
    assert_security_headers(response)


@pytest.mark.parametrize("probe_name", ["agent-200", "agent-404", "file-200", "file-404"])
@pytest.mark.parametrize("data_class", POLICY_OF_CLASS)
def test_compliance_add_header_replaced(nginx, clean_agent, data_class, probe_name):
    ng = start_server(nginx, data_class, COMPETING_COMPLIANCE_HEADERS)

    response = send_probe(ng, clean_agent, PROBES[probe_name])

    assert response.status_code == PROBES[probe_name].status
    assert_compliance_headers(response, POLICY_OF_CLASS[data_class])


CREDENTIALS = {
    "authorization": {"Authorization": "Bearer test-token"},
    "cookie": {"Cookie": "session=abc123"},
    "both": {"Authorization": "Bearer test-token", "Cookie": "session=abc123"},
}


def vary_tokens(response):
    tokens = set()
    for value in response.headers.get_list("Vary"):
        tokens.update(token.strip().lower() for token in value.split(","))
    return tokens


@pytest.mark.parametrize("probe_name", ["agent-telemedicine-200", "agent-clinics-200",
                                        "agent-query-200", "agent-304", "file-200"])
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_api_with_credentials_is_private(nginx, clean_agent, credential, probe_name):
    ng = start_server(nginx, "api", COMPETING_HEADERS)

    response = send_probe(ng, clean_agent, PROBES[probe_name], CREDENTIALS[credential])

    assert response.status_code == PROBES[probe_name].status
    assert_cache_policy(response, "credentialed")
    assert "authorization" in vary_tokens(response)
    assert "cookie" in vary_tokens(response)
    assert_compliance_headers(response, "api")
    assert_security_headers(response)


@pytest.mark.parametrize("probe_name", ["agent-404", "agent-500", "file-404", "refused-502"])
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_api_error_with_credentials(nginx, clean_agent, credential, probe_name):
    ng = start_server(nginx, "api", COMPETING_HEADERS)

    response = send_probe(ng, clean_agent, PROBES[probe_name], CREDENTIALS[credential])

    assert response.status_code == PROBES[probe_name].status
    assert_cache_policy(response, "error")
    assert_compliance_headers(response, "api")
    assert_security_headers(response)


def test_credentialed_vary_keeps_gzip_vary(nginx, clean_agent):
    gzip = "gzip on; gzip_vary on; gzip_types application/json; gzip_min_length 1;"
    ng = start_server(nginx, "api", gzip)

    response = ng.get("/api/telemedicine/sessions",
                      headers={"Cookie": "session=abc123", "Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert isinstance(response.json(), list)
    assert "accept-encoding" in vary_tokens(response)
    assert "authorization" in vary_tokens(response)
    assert "cookie" in vary_tokens(response)
    assert_cache_policy(response, "credentialed")


@pytest.mark.parametrize("data_class", ["patient", "image", "static"])
def test_credentials_keep_other_classes(nginx, clean_agent, data_class):
    ng = start_server(nginx, data_class)

    for probe_name in ("agent-200", "file-200"):
        response = send_probe(ng, clean_agent, PROBES[probe_name], CREDENTIALS["both"])

        assert response.status_code == 200
        assert_cache_policy(response, data_class)


def test_api_without_credentials_is_public(nginx, clean_agent):
    ng = start_server(nginx, "api")

    response = send_probe(ng, clean_agent, PROBES["agent-telemedicine-200"])

    assert response.status_code == 200
    assert response.headers.get_list("Cache-Control") == [CACHE_POLICY["api"][0]]


# (class of the location, neonpro_cache_control lines, credentials sent,
#  expected Cache-Control, Pragma, Expires)
CACHE_CONTROL_OVERRIDES = [
    pytest.param(
        "api", 'neonpro_cache_control api "public, max-age=60, stale-while-revalidate=30";', {},
        "public, max-age=60, stale-while-revalidate=30", [], [],
        id="api-value",
    ),
    pytest.param(
        "api", 'neonpro_cache_control api "no-cache" pragma=no-cache expires=0;', {},
        "no-cache", ["no-cache"], ["0"],
        id="api-with-pragma-and-expires",
    ),
    pytest.param(
        "api",
        'neonpro_cache_control api "no-cache" "expires=Thu, 01 Jan 1970 00:00:00 GMT";', {},
        "no-cache", [], ["Thu, 01 Jan 1970 00:00:00 GMT"],
        id="api-with-date-expires",
    ),
    pytest.param(
        "patient", 'neonpro_cache_control patient "no-store";', {},
        "no-store", [], [],
        id="patient-without-pragma-drops-pragma-and-expires",
    ),
    pytest.param(
        "patient", 'neonpro_cache_control patient "no-store, private" pragma=no-cache;', {},
        "no-store, private", ["no-cache"], [],
        id="patient-with-pragma-only",
    ),
    pytest.param(
        "medical", 'neonpro_cache_control patient "no-store, private" expires=0;', {},
        "no-store, private", [], ["0"],
        id="medical-alias-uses-patient-entry",
    ),
    pytest.param(
        "api", 'neonpro_cache_control credentialed "private, no-cache";', CREDENTIALS["cookie"],
        "private, no-cache", [], [],
        id="credentialed-value",
    ),
    pytest.param(
        "api", 'neonpro_cache_control credentialed "private, no-cache";', {},
        CACHE_POLICY["api"][0], [], [],
        id="credentialed-entry-leaves-api",
    ),
    pytest.param(
        "image", 'neonpro_cache_control image "public, max-age=60" expires=0;', {},
        "public, max-age=60", [], ["0"],
        id="image-value",
    ),
    pytest.param(
        "static", 'neonpro_cache_control static "public, max-age=600";', {},
        "public, max-age=600", [], [],
        id="static-value",
    ),
    pytest.param(
        "patient", 'neonpro_cache_control api "public, max-age=60";', {},
        CACHE_POLICY["patient"][0], ["no-cache"], ["0"],
        id="api-entry-leaves-patient",
    ),
]


@pytest.mark.parametrize(
    "data_class, directives, credentials, cache_control, pragma, expires", CACHE_CONTROL_OVERRIDES
)
@pytest.mark.parametrize("probe_name", ["agent-clinics-200", "file-200"])
def test_cache_control_override(nginx, clean_agent, probe_name, data_class, directives,
                                credentials, cache_control, pragma, expires):
    ng = start_server(nginx, data_class, directives + COMPETING_HEADERS)

    response = send_probe(ng, clean_agent, PROBES[probe_name], credentials)

    assert response.status_code == PROBES[probe_name].status
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == pragma
    assert response.headers.get_list("Expires") == expires


# (class of the location, neonpro_cache_control lines, expected Cache-Control,
#  Pragma, Expires) for 4xx and 5xx responses.
ERROR_CACHE_CONTROL_OVERRIDES = [
    pytest.param("api", 'neonpro_cache_control error "no-store, private" pragma=no-cache;',
                 "no-store, private", ["no-cache"], [], id="api-error-value"),
    pytest.param("image", 'neonpro_cache_control error "no-cache" expires=0;',
                 "no-cache", [], ["0"], id="image-error-value"),
    pytest.param("static", 'neonpro_cache_control error "no-store, max-age=0";',
                 "no-store, max-age=0", [], [], id="static-error-value"),
    pytest.param("api", 'neonpro_cache_control api "public, max-age=60";',
                 "no-store", [], [], id="api-entry-leaves-error"),
    pytest.param("patient", 'neonpro_cache_control error "no-cache";',
                 CACHE_POLICY["patient"][0], ["no-cache"], ["0"],
                 id="error-entry-leaves-patient"),
]


@pytest.mark.parametrize(
    "data_class, directives, cache_control, pragma, expires", ERROR_CACHE_CONTROL_OVERRIDES
)
@pytest.mark.parametrize("probe_name", ["agent-404", "agent-500", "file-404", "refused-502"])
def test_error_cache_control_override(nginx, clean_agent, probe_name, data_class, directives,
                                      cache_control, pragma, expires):
    ng = start_server(nginx, data_class, directives + COMPETING_HEADERS)

    response = send_probe(ng, clean_agent, PROBES[probe_name])

    assert response.status_code == PROBES[probe_name].status
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == pragma
    assert response.headers.get_list("Expires") == expires


FILTER_OWNED_HEADERS = (
    list(SECURITY_HEADERS) + list(COMPLIANCE_HEADERS) + list(PATIENT_COMPLIANCE_HEADERS)
)


@pytest.mark.parametrize("class_line", ["", "neonpro_data_class off;"])
def test_class_off_keeps_upstream_headers(nginx, clean_agent, class_line):
    ng = nginx(AGENT_UPSTREAM + """
    server {
        listen 127.0.0.1:{port};
        location /api/ {
            """ + class_line + """
            add_header X-Frame-Options SAMEORIGIN always;
            """ + PROXY_TO_AGENT + """
        }
    }""")
    direct = httpx.get(clean_agent.url + "/api/clinics")

    response = ng.get("/api/clinics")

    assert response.status_code == 200
    assert direct.headers.get_list("Cache-Control") == ["max-age=30"]
    assert response.headers.get_list("Cache-Control") == ["max-age=30"]
    assert response.headers.get_list("Pragma") == ["cache"]
    # The agent sets Expires to a minute after each request, so only its
    # presence and format can be compared.
    assert len(direct.headers.get_list("Expires")) == 1
    assert len(response.headers.get_list("Expires")) == 1
    assert email.utils.parsedate_to_datetime(response.headers["Expires"]) is not None
    assert response.headers.get_list("X-Frame-Options") == ["SAMEORIGIN"]
    for name in FILTER_OWNED_HEADERS:
        if name != "X-Frame-Options":
            assert name not in response.headers, name


def test_class_off_keeps_nginx_expires(nginx):
    ng = nginx("""
    server {
        listen 127.0.0.1:{port};
        root {prefix}/html;
        location /files/ { neonpro_data_class off; expires 1h; }
    }""", files=FILES)

    response = ng.get("/files/logo.png")

    assert response.status_code == 200
    assert response.headers.get_list("Cache-Control") == ["max-age=3600"]
    assert "Strict-Transport-Security" not in response.headers


def test_class_off_location_beside_filtered_one(nginx, clean_agent):
    ng = nginx(AGENT_UPSTREAM + """
    server {
        listen 127.0.0.1:{port};
        location /api/clinics { neonpro_data_class api; """ + PROXY_TO_AGENT + """ }
        location /api/ { """ + PROXY_TO_AGENT + """ }
    }""")

    filtered = ng.get("/api/clinics")
    unfiltered = ng.get("/api/appointments")

    assert filtered.headers.get_list("Cache-Control") == [CACHE_POLICY["api"][0]]
    assert unfiltered.headers.get_list("Cache-Control") == ["no-cache"]
    assert "X-LGPD-Compliant" not in unfiltered.headers
    assert "X-Content-Type-Options" not in unfiltered.headers


def test_reload_applies_new_policy(nginx, clean_agent):
    ng = start_server(nginx, "api")
    before = ng.get("/api/clinics")

    ng.write_config(server_config("api", 'neonpro_cache_control api "public, max-age=5";'))
    ng.reload()
    after = ng.get("/api/clinics")

    assert before.headers.get_list("Cache-Control") == [CACHE_POLICY["api"][0]]
    assert after.headers.get_list("Cache-Control") == ["public, max-age=5"]
    assert_security_headers(after)


# nginx's own error pages in the filter's classes: (probe, status, code,
# retryable). neonpro_json_errors defaults to on for the api and patient
# classes.
JSON_ERROR_PAGES = [
    ("file-404", 404, "NOT_FOUND", False),
    ("file-405", 405, "METHOD_NOT_ALLOWED", False),
    ("file-413", 413, "PAYLOAD_TOO_LARGE", False),
    ("refused-502", 502, "UPSTREAM_ERROR", True),
    ("return-503", 503, "SERVICE_UNAVAILABLE", True),
]


@pytest.mark.parametrize("probe_name, status, code, retryable", JSON_ERROR_PAGES)
@pytest.mark.parametrize("data_class", ["api", "patient"])
def test_error_page_is_json(nginx, clean_agent, data_class, probe_name, status, code, retryable):
    ng = start_server(nginx, data_class)

    response = send_probe(ng, clean_agent, PROBES[probe_name])

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(response.content)
    assert body["error"]["code"] == code
    assert body["error"]["retryable"] is retryable
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"] != ""


@pytest.mark.parametrize("data_class", ["api", "patient"])
def test_upstream_error_body_kept(nginx, clean_agent, data_class):
    ng = start_server(nginx, data_class)
    direct = httpx.get(clean_agent.url + PROBES["agent-404"].path)

    not_found = send_probe(ng, clean_agent, PROBES["agent-404"])
    failed = send_probe(ng, clean_agent, PROBES["agent-500"])

    assert not_found.status_code == 404
    assert not_found.content == direct.content
    assert failed.status_code == 500
    assert "simulated failure" in failed.text


@pytest.mark.parametrize("probe_name", ["file-404", "refused-502", "return-503"])
@pytest.mark.parametrize("data_class", ["image", "static"])
def test_error_page_stays_html(nginx, clean_agent, data_class, probe_name):
    ng = start_server(nginx, data_class)

    response = send_probe(ng, clean_agent, PROBES[probe_name])

    assert response.status_code == PROBES[probe_name].status
    assert response.headers["Content-Type"].startswith("text/html")
    assert_cache_policy(response, "error")


@pytest.mark.parametrize("data_class", ["api", "patient"])
def test_error_page_directive_wins(nginx, clean_agent, data_class):
    ng = start_server(nginx, data_class, "error_page 404 /files/custom404.html;")

    response = send_probe(ng, clean_agent, PROBES["file-404"])

    assert response.status_code == 404
    assert response.text == FILES["html/files/custom404.html"]
    assert_cache_policy(response, cache_policy_for(data_class, 404))
