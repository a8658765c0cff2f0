"""The legal-basis check of patient locations, its error bodies and variables.

docs/directives.md: a patient location requires X-LGPD-Purpose and
X-LGPD-Legal-Basis in the access phase. A missing header gives 403
LGPD_LEGAL_BASIS_REQUIRED, a value not on its list 403
LGPD_LEGAL_BASIS_INVALID, and an accepted basis is echoed in
X-LGPD-Processing-Basis and $neonpro_legal_basis.
"""

import json

import httpx
import pytest

from conftest import (
    AGENT_UPSTREAM,
    CACHE_POLICY,
    LEGAL_HEADERS,
    PATIENT_COMPLIANCE_HEADERS,
    PROXY_TO_AGENT,
)

# Synthetic patient 1 of docker/agent/data.py.
PATIENT_PATH = "/api/patients/1"
RECORD_PATH = "/api/medical-records/1"

LOG_FORMAT = (
    "log_format lgpd '$request_uri class=[$neonpro_data_class] "
    "basis=[$neonpro_legal_basis] no_cache=[$neonpro_no_cache] status=$status';\n"
)

DEBUG_HEADERS = """
        add_header X-Debug-Class $neonpro_data_class always;
        add_header X-Debug-Basis $neonpro_legal_basis always;
        add_header X-Debug-No-Cache $neonpro_no_cache always;
"""

CONFIG = AGENT_UPSTREAM + LOG_FORMAT + """
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    access_log {prefix}/access.log lgpd;
    {server_extra}

    location /api/patients/ { neonpro_data_class patient; DEBUG PROXY }
    location /api/medical-records/ { neonpro_data_class medical; DEBUG PROXY }
    location /api/v2/patients/ {
        neonpro_data_class patient;
        neonpro_legal_basis off;
        DEBUG PROXY
    }
    location /api/clinics { neonpro_data_class api; DEBUG PROXY }
    location /api/appointments {
        neonpro_data_class api;
        neonpro_legal_basis on;
        DEBUG PROXY
    }
    location /api/telemedicine/ { DEBUG PROXY }
    location /images/ { neonpro_data_class image; DEBUG }
    location /assets/ { neonpro_data_class static; DEBUG }
}
""".replace("DEBUG", DEBUG_HEADERS).replace("PROXY", PROXY_TO_AGENT)

FILES = {"html/images/logo.png": b"\x89PNG\r\n\x1a\n", "html/assets/app.js": "console.log(1);\n"}


def start(nginx, server_extra=""):
    return nginx(CONFIG.replace("{server_extra}", server_extra), files=FILES)


def error_of(response):
    """Return the "error" object of a JSON error response."""
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    return body["error"]


# ---------------------------------------------------------------------------
# Refused requests

# (request headers, header names of which the message must name one)
MISSING_CASES = [
    pytest.param({}, ["x-lgpd-purpose", "x-lgpd-legal-basis"], id="both-missing"),
    pytest.param({"X-LGPD-Purpose": "medical_care"}, ["x-lgpd-legal-basis"],
                 id="basis-missing"),
    pytest.param({"X-LGPD-Legal-Basis": "health_protection"}, ["x-lgpd-purpose"],
                 id="purpose-missing"),
]


@pytest.mark.parametrize("path", [PATIENT_PATH, RECORD_PATH, "/api/appointments"])
@pytest.mark.parametrize("headers, named", MISSING_CASES)
def test_missing_header_rejected(nginx, clean_agent, path, headers, named):
    ng = start(nginx)

    response = ng.get(path, headers=headers)

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert error["retryable"] is False
    assert any(name in error["message"].lower() for name in named), error["message"]
    assert response.headers["Content-Language"] == "pt-BR"
    assert "X-LGPD-Processing-Basis" not in response.headers
    assert clean_agent.requests() == []


# (X-LGPD-Legal-Basis, X-LGPD-Purpose, the value the message must name)
INVALID_CASES = [
    pytest.param("marketing", "medical_care", "marketing", id="unknown-basis"),
    pytest.param("consent", "advertising", "advertising", id="unknown-purpose"),
    pytest.param("medical_care", "medical_care", "medical_care", id="purpose-as-basis"),
    pytest.param("consent", "consent", "consent", id="basis-as-purpose"),
    pytest.param("health_protection x", "medical_care", "health_protection x",
                 id="two-words"),
]


@pytest.mark.parametrize("path", [PATIENT_PATH, RECORD_PATH])
@pytest.mark.parametrize("basis, purpose, named", INVALID_CASES)
def test_invalid_value_rejected(nginx, clean_agent, path, basis, purpose, named):
    ng = start(nginx)

    response = ng.get(path, headers={"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": purpose})

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "LGPD_LEGAL_BASIS_INVALID"
    assert error["retryable"] is False
    assert named in error["message"]
    assert clean_agent.requests() == []


@pytest.mark.parametrize("accept_language, label", [("pt-BR", "aceitos"), ("en", "allowed")])
def test_invalid_value_lists_allowed(nginx, clean_agent, accept_language, label):
    ng = start(nginx)

    response = ng.get(PATIENT_PATH, headers={"X-LGPD-Legal-Basis": "marketing",
                                             "X-LGPD-Purpose": "medical_care",
                                             "Accept-Language": accept_language})

    message = error_of(response)["message"]
    assert response.status_code == 403
    assert label in message
    assert "health_protection" in message
    assert "pharmaceutical_vigilance" in message


# Values with characters that JSON must escape. The module may shorten or
# mask such a value in the message, so only the body's validity is checked.
@pytest.mark.parametrize("basis", [
    pytest.param('consent"}, "injected": {"a', id="quote-and-brace"),
    pytest.param("back\\slash\\n", id="backslash"),
    pytest.param(b"a\xc3\xa7\xc3\xa3o", id="utf-8-bytes"),
    pytest.param(b"\xff\xfe", id="invalid-utf-8"),
    pytest.param("x" * 4000, id="4000-chars"),
])
def test_invalid_value_body_stays_json(nginx, clean_agent, basis):
    ng = start(nginx)

    response = ng.get(PATIENT_PATH,
                      headers={"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": "medical_care"})

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "LGPD_LEGAL_BASIS_INVALID"
    assert set(error) == {"code", "message", "retryable"}
    assert clean_agent.requests() == []


def test_header_names_case_insensitive(nginx, clean_agent):
    ng = start(nginx)

    response = ng.get(PATIENT_PATH, headers={"x-lgpd-legal-basis": "consent",
                                             "X-LGPD-PURPOSE": "billing"})

    assert response.status_code == 200
    assert response.headers["X-LGPD-Processing-Basis"].lower() == "consent"


def test_refused_head_request(nginx, clean_agent):
    ng = start(nginx)

    response = ng.request("HEAD", PATIENT_PATH)

    assert response.status_code == 403
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert clean_agent.requests() == []


def test_refused_post_keeps_connection(nginx, clean_agent):
    """Check that a refused request's unread body does not corrupt the next request."""
    ng = start(nginx)
    body = b'{"note": "' + b"x" * 100_000 + b'"}'

    with httpx.Client(base_url=ng.url, timeout=10.0) as client:
        refused = client.post(PATIENT_PATH, content=body,
                              headers={"Content-Type": "application/json"})
        accepted = client.get(PATIENT_PATH, headers=LEGAL_HEADERS)

    assert refused.status_code == 403
    assert error_of(refused)["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert accepted.status_code == 200
    assert accepted.json()["id"] == "1"
    assert [entry["method"] for entry in clean_agent.requests()] == ["GET"]


# try_files falls back to a named location after the access phase of the
# first location, and the named location runs its own access phase.
FALLBACK_CONFIG = AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;

    location /api/ {
        neonpro_data_class static;
        try_files $uri @agent;
    }

    location @agent {
        neonpro_data_class patient;
        PROXY
    }
}
""".replace("PROXY", PROXY_TO_AGENT)


def test_named_location_fallback_checked(nginx, clean_agent):
    ng = nginx(FALLBACK_CONFIG)

    refused = ng.get(PATIENT_PATH)
    accepted = ng.get(PATIENT_PATH, headers=LEGAL_HEADERS)

    assert refused.status_code == 403
    assert error_of(refused)["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert accepted.status_code == 200
    assert accepted.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]
    assert len(clean_agent.requests()) == 1


def test_refusal_keeps_patient_policy(nginx, clean_agent):
    ng = start(nginx)

    response = ng.get(PATIENT_PATH)

    assert response.status_code == 403
    assert response.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]
    assert response.headers.get_list("Pragma") == ["no-cache"]
    assert response.headers.get_list("Expires") == ["0"]
    for name, value in PATIENT_COMPLIANCE_HEADERS.items():
        assert response.headers.get_list(name) == [value], name


# (Accept-Language, language of the message)
LANGUAGE_CASES = [
    pytest.param(None, "pt", id="absent"),
    pytest.param("en-US,en;q=0.9", "en", id="english-only"),
    pytest.param("en", "en", id="bare-en"),
    pytest.param("pt-BR,pt;q=0.9,en;q=0.8", "pt", id="portuguese-first"),
    pytest.param("en-US,en;q=0.9,pt-BR;q=0.8", "en", id="english-ranked-higher"),
    pytest.param("pt-BR;q=0.5,en;q=0.9", "en", id="english-higher-q-listed-second"),
    pytest.param("en;q=0.4,pt-BR;q=0.8", "pt", id="portuguese-higher-q-listed-second"),
    pytest.param("en;q=0.8,pt;q=0.8", "pt", id="tie-is-not-above"),
    pytest.param("fr-FR,fr;q=0.9", "pt", id="neither"),
    pytest.param("fr-FR,en;q=0.5", "en", id="english-above-absent-pt"),
    pytest.param("EN-us", "en", id="tag-case-insensitive"),
]


# (request headers without Accept-Language, expected error code)
REFUSALS = [
    pytest.param({"X-LGPD-Legal-Basis": "health_protection"}, "LGPD_LEGAL_BASIS_REQUIRED",
                 id="required"),
    pytest.param({"X-LGPD-Legal-Basis": "marketing", "X-LGPD-Purpose": "medical_care"},
                 "LGPD_LEGAL_BASIS_INVALID", id="invalid"),
]


@pytest.mark.parametrize("accept_language, language", LANGUAGE_CASES)
@pytest.mark.parametrize("headers, code", REFUSALS)
def test_error_message_language(nginx, clean_agent, accept_language, language, headers, code):
    ng = start(nginx)
    portuguese = error_of(ng.get(PATIENT_PATH, headers=headers))["message"]
    if accept_language is not None:
        headers = dict(headers, **{"Accept-Language": accept_language})

    response = ng.get(PATIENT_PATH, headers=headers)

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == code
    if language == "pt":
        assert response.headers["Content-Language"] == "pt-BR"
        assert error["message"] == portuguese
    else:
        assert response.headers["Content-Language"].lower().split("-")[0] == "en"
        assert error["message"] != portuguese


# ---------------------------------------------------------------------------
# Accepted requests

# (X-LGPD-Legal-Basis, X-LGPD-Purpose)
VALID_CASES = [
    ("health_protection", "medical_care"),
    ("consent", "appointment_scheduling"),
    ("contract", "billing"),
    ("legal_obligation", "legal_compliance"),
    ("vital_interest", "medical_care"),
    ("legitimate_interest", "billing"),
    ("public_task", "legal_compliance"),
    ("medical_assistance", "medical_care"),
    ("public_health", "research"),
    ("health_research", "research"),
    ("pharmaceutical_vigilance", "legal_compliance"),
    ("HEALTH_PROTECTION", "Medical_Care"),
    ("Consent", "BILLING"),
]


@pytest.mark.parametrize("path", [PATIENT_PATH, RECORD_PATH])
@pytest.mark.parametrize("basis, purpose", VALID_CASES)
def test_valid_headers_pass(nginx, clean_agent, path, basis, purpose):
    ng = start(nginx)

    response = ng.get(path, headers={"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": purpose})

    assert response.status_code == 200
    assert response.headers["X-LGPD-Processing-Basis"].lower() == basis.lower()
    assert response.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]
    assert len(clean_agent.requests()) == 1


def test_api_location_needs_no_headers(nginx, clean_agent):
    ng = start(nginx)

    response = ng.get("/api/clinics")

    assert response.status_code == 200
    assert "X-LGPD-Processing-Basis" not in response.headers
    assert len(clean_agent.requests()) == 1


def test_legal_basis_off_in_patient_location(nginx, clean_agent):
    ng = start(nginx)

    response = ng.get("/api/v2/patients/1")

    assert response.status_code == 200
    assert response.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]
    assert response.headers.get_list("X-Data-Classification") == ["patient"]
    assert "X-LGPD-Processing-Basis" not in response.headers
    assert len(clean_agent.requests()) == 1


# (directive lines, basis, purpose, status, rejected value or None)
CUSTOM_LIST_CASES = [
    pytest.param("neonpro_legal_bases consent research_partnership;",
                 "research_partnership", "medical_care", 200, None,
                 id="custom-basis-accepted"),
    pytest.param("neonpro_legal_bases consent research_partnership;",
                 "health_protection", "medical_care", 403, "health_protection",
                 id="default-basis-dropped"),
    pytest.param("neonpro_legal_purposes medical_care clinical_trial_2025;",
                 "consent", "clinical_trial_2025", 200, None,
                 id="custom-purpose-accepted"),
    pytest.param("neonpro_legal_purposes medical_care clinical_trial_2025;",
                 "consent", "billing", 403, "billing",
                 id="default-purpose-dropped"),
    pytest.param("neonpro_legal_bases consent research_partnership;",
                 "RESEARCH_PARTNERSHIP", "medical_care", 200, None,
                 id="custom-basis-case-insensitive"),
]


@pytest.mark.parametrize("directives, basis, purpose, status, rejected", CUSTOM_LIST_CASES)
def test_configured_lists(nginx, clean_agent, directives, basis, purpose, status, rejected):
    ng = start(nginx, directives)

    response = ng.get(PATIENT_PATH,
                      headers={"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": purpose})

    assert response.status_code == status
    if rejected is None:
        assert response.headers["X-LGPD-Processing-Basis"].lower() == basis.lower()
    else:
        error = error_of(response)
        assert error["code"] == "LGPD_LEGAL_BASIS_INVALID"
        assert rejected in error["message"]


# ---------------------------------------------------------------------------
# Variables

# (path, request headers, status, $neonpro_data_class, $neonpro_legal_basis,
#  $neonpro_no_cache)
VARIABLE_CASES = [
    pytest.param(PATIENT_PATH, LEGAL_HEADERS, 200, "patient", "health_protection", "1",
                 id="patient-accepted"),
    pytest.param(RECORD_PATH, {"X-LGPD-Legal-Basis": "Consent", "X-LGPD-Purpose": "billing"},
                 200, "patient", "consent", "1", id="medical-alias"),
    pytest.param(PATIENT_PATH, {}, 403, "patient", "", "1", id="patient-refused"),
    pytest.param("/api/v2/patients/1", {}, 200, "patient", "", "1",
                 id="patient-without-check"),
    pytest.param("/api/clinics", {}, 200, "api", "", "", id="api"),
    pytest.param("/api/appointments", LEGAL_HEADERS, 200, "api", "health_protection", "",
                 id="api-with-check"),
    pytest.param("/images/logo.png", {}, 200, "image", "", "", id="image"),
    pytest.param("/assets/app.js", {}, 200, "static", "", "", id="static"),
    pytest.param("/api/telemedicine/sessions", LEGAL_HEADERS, 200, "", "", "",
                 id="filter-off"),
]


@pytest.mark.parametrize("path, headers, status, data_class, basis, no_cache", VARIABLE_CASES)
def test_variables_in_add_header(nginx, clean_agent, path, headers, status, data_class,
                                 basis, no_cache):
    ng = start(nginx)

    response = ng.get(path, headers=headers)

    assert response.status_code == status
    # add_header sends no header for an empty value.
    assert response.headers.get("X-Debug-Class", "") == data_class
    assert response.headers.get("X-Debug-Basis", "").lower() == basis
    assert response.headers.get("X-Debug-No-Cache", "") == no_cache


@pytest.mark.parametrize("path, headers, status, data_class, basis, no_cache", VARIABLE_CASES)
def test_variables_in_access_log(nginx, clean_agent, path, headers, status, data_class,
                                 basis, no_cache):
    ng = start(nginx)

    response = ng.get(path, headers=headers)
    line = ng.wait_for_line("access.log", path + " ")

    assert response.status_code == status
    assert f"class=[{data_class}]" in line
    assert f"basis=[{basis}]" in line.lower()
    assert f"no_cache=[{no_cache}]" in line
    assert line.endswith(f"status={status}")


# Before the response exists, $neonpro_data_class is the location's class.
# proxy_set_header evaluates the variables then, and the agent echoes what
# it received.
REQUEST_VARIABLES_CONFIG = AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};

    location /api/ {
        neonpro_data_class {class};
        proxy_set_header X-Class $neonpro_data_class;
        proxy_set_header X-Basis $neonpro_legal_basis;
        proxy_set_header X-No-Cache $neonpro_no_cache;
        PROXY
    }
}
""".replace("PROXY", PROXY_TO_AGENT)

# (location class, request headers, X-Class, X-Basis, X-No-Cache received)
REQUEST_VARIABLE_CASES = [
    pytest.param("patient", LEGAL_HEADERS, "patient", "health_protection", "1", id="patient"),
    pytest.param("medical", LEGAL_HEADERS, "patient", "health_protection", "1",
                 id="medical-alias"),
    pytest.param("api", LEGAL_HEADERS, "api", None, None, id="api"),
    pytest.param("static", {}, "static", None, None, id="static"),
]


@pytest.mark.parametrize("data_class, headers, sent_class, sent_basis, sent_no_cache",
                         REQUEST_VARIABLE_CASES)
def test_variables_before_response(nginx, clean_agent, data_class, headers, sent_class,
                                   sent_basis, sent_no_cache):
    ng = nginx(REQUEST_VARIABLES_CONFIG.replace("{class}", data_class))

    response = ng.get("/api/echo-headers", headers=headers)
    received = clean_agent.requests()[0]["headers"]

    assert response.status_code == 200
    # proxy_set_header sends no header for an empty value.
    assert received.get("x-class") == sent_class
    assert (received.get("x-basis") or "").lower() == (sent_basis or "")
    assert received.get("x-no-cache") == sent_no_cache


# ---------------------------------------------------------------------------
# proxy_cache with $neonpro_no_cache

CACHE_CONFIG = "proxy_cache_path {prefix}/cache levels=1:2 keys_zone=lgpd_cache:1m;\n" + \
    AGENT_UPSTREAM + """
server {
    listen 127.0.0.1:{port};
    proxy_cache lgpd_cache;
    proxy_cache_valid 200 10m;
    # The agent marks patient replies private, so nginx would not cache them
    # anyway. Ignoring that header leaves the variables as the only guard.
    proxy_ignore_headers Cache-Control Expires Vary Set-Cookie;
    add_header X-Cache-Status $upstream_cache_status always;
    {no_cache_lines}

    location /api/patients/ { neonpro_data_class patient; PROXY }
    location /api/clinics { neonpro_data_class api; PROXY }
    location /api/telemedicine/ { neonpro_data_class api; PROXY }
}
""".replace("PROXY", PROXY_TO_AGENT)

NO_CACHE_LINES = "proxy_no_cache $neonpro_no_cache; proxy_cache_bypass $neonpro_no_cache;"

# (path, agent requests after two identical client requests)
CACHE_CASES = [
    pytest.param(PATIENT_PATH, 2, id="patient-not-cached"),
    pytest.param("/api/telemedicine/sessions?x_data_classification=patient", 2,
                 id="escalated-patient-not-cached"),
    pytest.param("/api/clinics", 1, id="api-cached"),
    pytest.param("/api/telemedicine/sessions", 1, id="api-route-cached"),
]


@pytest.mark.parametrize("path, agent_requests", CACHE_CASES)
def test_no_cache_variable_keeps_patient_out(nginx, clean_agent, path, agent_requests):
    ng = nginx(CACHE_CONFIG.replace("{no_cache_lines}", NO_CACHE_LINES))

    first = ng.get(path, headers=LEGAL_HEADERS)
    second = ng.get(path, headers=LEGAL_HEADERS)

    assert first.status_code == 200
    assert second.status_code == 200
    assert second.content == first.content
    assert len(clean_agent.requests()) == agent_requests
    if agent_requests == 1:
        assert second.headers["X-Cache-Status"] == "HIT"
        assert second.headers.get_list("Cache-Control") == [CACHE_POLICY["api"][0]]
    else:
        assert second.headers["X-Cache-Status"] in ("BYPASS", "MISS")
        assert second.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]


def test_cache_config_caches_patient_without_variable(nginx, clean_agent):
    """Show that the cache config above would store patient replies on its own."""
    ng = nginx(CACHE_CONFIG.replace("{no_cache_lines}", ""))

    ng.get(PATIENT_PATH, headers=LEGAL_HEADERS)
    second = ng.get(PATIENT_PATH, headers=LEGAL_HEADERS)

    assert second.status_code == 200
    assert len(clean_agent.requests()) == 1
