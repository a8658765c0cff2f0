"""Escalation of the data class by the upstream's X-Data-Classification header.

The reference agent copies the query parameter `x_data_classification` of a
GET into an X-Data-Classification response header. docs/directives.md: the
marker raises the location's class (order static < image < api < patient) and
never lowers it, an unknown value is logged at warn level and ignored, the
marker is removed unless neonpro_data_class_marker is on, and a response
raised to patient on a request that was not checked is replaced by the
legal-basis 403 when the request's headers fail the check.
"""

import json

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
)

# Synthetic patient 1 of docker/agent/data.py. Its name and CPF must never
# reach a client that failed the legal-basis check.
PATIENT_PATH = "/api/patients/1"
PATIENT_NAME = "Ana Beatriz Souza"
PATIENT_CPF = "384.719.206-03"

CONFIG = AGENT_UPSTREAM + """
log_format lgpd '$request_uri class=[$neonpro_data_class] basis=[$neonpro_legal_basis] no_cache=[$neonpro_no_cache] status=$status';

server {
    listen 127.0.0.1:{port};
    access_log {prefix}/access.log lgpd;

    location /api/ {
        neonpro_data_class {class};
        {location_extra}
        """ + PROXY_TO_AGENT + """
    }
}
"""


def start(nginx, data_class, location_extra=""):
    return nginx(
        CONFIG.replace("{class}", data_class).replace("{location_extra}", location_extra)
    )


def marked(path, marker):
    return f"{path}?x_data_classification={marker}"


def assert_policy(response, policy):
    cache_control, pragma, expires = CACHE_POLICY[policy]
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == ([pragma] if pragma else [])
    assert response.headers.get_list("Expires") == ([expires] if expires else [])
    for name, value in COMPLIANCE_HEADERS.items():
        expected = [value] if policy in ("api", "patient") else []
        assert response.headers.get_list(name) == expected, name
    for name, value in PATIENT_COMPLIANCE_HEADERS.items():
        expected = [value] if policy == "patient" else []
        assert response.headers.get_list(name) == expected, name
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name


# (class of the location, upstream marker, class applied)
ESCALATION_CASES = [
    ("api", "patient", "patient"),
    ("api", "sensitive", "patient"),
    ("api", "medical", "patient"),
    ("image", "patient", "patient"),
    ("static", "patient", "patient"),
    ("static", "image", "image"),
    ("static", "api", "api"),
    ("image", "api", "api"),
    ("api", "api", "api"),
    ("api", "image", "api"),
    ("api", "static", "api"),
    ("image", "static", "image"),
    ("patient", "static", "patient"),
    ("patient", "image", "patient"),
    ("patient", "api", "patient"),
]


@pytest.mark.parametrize("location_class, marker, applied", ESCALATION_CASES)
def test_marker_raises_never_lowers(nginx, clean_agent, location_class, marker, applied):
    ng = start(nginx, location_class)

    response = ng.get(marked("/api/clinics", marker), headers=LEGAL_HEADERS)

    assert response.status_code == 200
    assert_policy(response, applied)


@pytest.mark.parametrize("location_class", ["static", "image", "api"])
def test_unknown_marker_ignored_and_logged(nginx, clean_agent, location_class):
    ng = start(nginx, location_class)

    response = ng.get(marked("/api/clinics", "top-secret"), headers=LEGAL_HEADERS)

    assert response.status_code == 200
    assert_policy(response, location_class)
    assert "X-Data-Classification" not in response.headers
    warnings = [
        line for line in ng.error_log().splitlines()
        if "[warn]" in line and "top-secret" in line
    ]
    assert len(warnings) >= 1, ng.error_log()


# (class of the location, marker or None, X-Data-Classification values seen
#  with neonpro_data_class_marker off, and with it on)
MARKER_VISIBILITY_CASES = [
    pytest.param("api", None, [], ["api"], id="api-without-marker"),
    pytest.param("api", "api", [], ["api"], id="api-marker-api"),
    pytest.param("api", "image", [], ["api"], id="api-marker-lower"),
    pytest.param("api", "top-secret", [], ["api"], id="api-marker-unknown"),
    pytest.param("static", "image", [], ["image"], id="static-raised-to-image"),
    pytest.param("image", None, [], ["image"], id="image-without-marker"),
    pytest.param("api", "patient", ["patient"], ["patient"], id="api-raised-to-patient"),
    pytest.param("patient", "static", ["patient"], ["patient"], id="patient-marker-lower"),
    pytest.param("patient", None, ["patient"], ["patient"], id="patient-without-marker"),
]


@pytest.mark.parametrize("marker_directive", ["off", "on"])
@pytest.mark.parametrize("location_class, marker, when_off, when_on", MARKER_VISIBILITY_CASES)
def test_marker_visibility(nginx, clean_agent, marker_directive, location_class, marker,
                           when_off, when_on):
    extra = "" if marker_directive == "off" else "neonpro_data_class_marker on;"
    ng = start(nginx, location_class, extra)
    path = "/api/clinics" if marker is None else marked("/api/clinics", marker)

    response = ng.get(path, headers=LEGAL_HEADERS)

    assert response.status_code == 200
    expected = when_off if marker_directive == "off" else when_on
    assert response.headers.get_list("X-Data-Classification") == expected


def test_marker_off_explicitly_hides(nginx, clean_agent):
    ng = start(nginx, "api", "neonpro_data_class_marker off;")

    response = ng.get(marked("/api/clinics", "api"))

    assert response.status_code == 200
    assert "X-Data-Classification" not in response.headers


# ---------------------------------------------------------------------------
# Escalation to patient on a request that was not checked

# (request headers, expected error code, value the message must name)
REFUSED_ESCALATIONS = [
    pytest.param({}, "LGPD_LEGAL_BASIS_REQUIRED", None, id="no-headers"),
    pytest.param({"X-LGPD-Purpose": "medical_care"}, "LGPD_LEGAL_BASIS_REQUIRED",
                 "x-lgpd-legal-basis", id="basis-missing"),
    pytest.param({"X-LGPD-Legal-Basis": "marketing", "X-LGPD-Purpose": "medical_care"},
                 "LGPD_LEGAL_BASIS_INVALID", "marketing", id="invalid-basis"),
]


# proxy_buffering off makes nginx forward the agent's body as it arrives,
# a different path for the body that the filter must drop. With 512-byte
# buffers the appointment list (about 900 bytes) arrives in more than one read.
BUFFERING = {
    "buffered": "",
    "unbuffered": "proxy_buffering off;",
    "small-buffers": "proxy_buffer_size 512; proxy_buffers 4 512; proxy_busy_buffers_size 512;",
    "unbuffered-small": "proxy_buffering off; proxy_buffer_size 512;",
}


@pytest.mark.parametrize("buffering", BUFFERING)
@pytest.mark.parametrize("path", [PATIENT_PATH, "/api/v2/patients/1"])
@pytest.mark.parametrize("headers, code, named", REFUSED_ESCALATIONS)
def test_escalation_without_legal_basis_refused(nginx, clean_agent, path, headers, code, named,
                                                buffering):
    ng = start(nginx, "api", BUFFERING[buffering])
    direct = httpx.get(clean_agent.url + path)

    response = ng.get(marked(path, "patient"), headers=headers)

    # The agent's body contains the patient, so the check below can fail.
    assert PATIENT_NAME in direct.text
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert PATIENT_NAME not in response.text
    assert PATIENT_CPF not in response.text
    assert "ETag" not in response.headers
    error = json.loads(response.content)["error"]
    assert error["code"] == code
    assert error["retryable"] is False
    if named is not None:
        assert named in error["message"].lower()
    assert response.headers["Content-Language"] == "pt-BR"
    assert_policy(response, "patient")


def test_escalation_refusal_in_english(nginx, clean_agent):
    ng = start(nginx, "api")
    portuguese = ng.get(marked(PATIENT_PATH, "patient"))

    response = ng.get(marked(PATIENT_PATH, "patient"),
                      headers={"Accept-Language": "en-US,en;q=0.9"})

    assert response.status_code == 403
    assert response.headers["Content-Language"].lower().split("-")[0] == "en"
    assert json.loads(response.content)["error"]["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert json.loads(response.content)["error"]["message"] != \
        json.loads(portuguese.content)["error"]["message"]
    assert PATIENT_NAME not in response.text


@pytest.mark.parametrize("buffering", BUFFERING)
def test_connections_usable_after_refusal(nginx, clean_agent, buffering):
    """Check that both keep-alive connections still work after a replaced reply.

    The client connection and nginx's keepalive connection to the agent must
    both carry the next request correctly after the agent's body was dropped.
    """
    ng = start(nginx, "api", BUFFERING[buffering])

    with httpx.Client(base_url=ng.url, timeout=10.0) as client:
        refused = client.get(marked(PATIENT_PATH, "patient"))
        clinics = client.get("/api/clinics")
        patient = client.get(marked(PATIENT_PATH, "patient"), headers=LEGAL_HEADERS)
        refused_again = client.get(marked("/api/medical-records/1", "patient"))

    assert refused.status_code == 403
    assert clinics.status_code == 200
    assert isinstance(clinics.json(), list)
    assert patient.status_code == 200
    assert patient.json()["name"] == PATIENT_NAME
    assert refused_again.status_code == 403
    assert "lidoca" not in refused_again.text


@pytest.mark.parametrize("buffering", BUFFERING)
def test_multi_read_body_dropped(nginx, clean_agent, buffering):
    ng = start(nginx, "api", BUFFERING[buffering])
    direct = httpx.get(clean_agent.url + "/api/appointments")

    with httpx.Client(base_url=ng.url, timeout=10.0) as client:
        refused = client.get(marked("/api/appointments", "patient"))
        accepted = client.get(marked("/api/appointments", "patient"), headers=LEGAL_HEADERS)

    assert len(direct.content) > 512
    assert "Fernanda Moreira" in direct.text
    assert refused.status_code == 403
    assert "Fernanda Moreira" not in refused.text
    assert json.loads(refused.content)["error"]["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert accepted.status_code == 200
    assert accepted.content == direct.content


# Replies without a patient body are replaced too: the rule is about the
# class of the response, not its content.
@pytest.mark.parametrize("path, conditional", [
    pytest.param("/api/patients/no-such-patient", False, id="agent-404"),
    pytest.param(PATIENT_PATH, True, id="agent-304"),
])
def test_escalated_bodiless_reply_refused(nginx, clean_agent, path, conditional):
    ng = start(nginx, "api")
    headers = {}
    if conditional:
        headers["If-None-Match"] = httpx.get(clean_agent.url + path).headers["ETag"]

    response = ng.get(marked(path, "patient"), headers=headers)

    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
    assert_policy(response, "patient")


@pytest.mark.parametrize("basis, purpose", [("health_protection", "medical_care"),
                                            ("CONSENT", "billing")])
def test_escalation_with_legal_basis_passes(nginx, clean_agent, basis, purpose):
    ng = start(nginx, "api")

    response = ng.get(marked(PATIENT_PATH, "patient"),
                      headers={"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": purpose})

    assert response.status_code == 200
    assert response.json()["name"] == PATIENT_NAME
    assert response.headers["X-LGPD-Processing-Basis"].lower() == basis.lower()
    assert_policy(response, "patient")


def test_escalation_respects_configured_lists(nginx, clean_agent):
    ng = start(nginx, "api", "neonpro_legal_bases consent;")

    accepted = ng.get(marked(PATIENT_PATH, "patient"),
                      headers={"X-LGPD-Legal-Basis": "consent", "X-LGPD-Purpose": "billing"})
    refused = ng.get(marked(PATIENT_PATH, "patient"), headers=LEGAL_HEADERS)

    assert accepted.status_code == 200
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["code"] == "LGPD_LEGAL_BASIS_INVALID"
    assert "health_protection" in json.loads(refused.content)["error"]["message"]
    assert PATIENT_NAME not in refused.text


def test_escalation_on_agent_304(nginx, clean_agent):
    ng = start(nginx, "api")
    etag = httpx.get(clean_agent.url + PATIENT_PATH).headers["ETag"]

    response = ng.get(marked(PATIENT_PATH, "patient"),
                      headers=dict(LEGAL_HEADERS, **{"If-None-Match": etag}))

    assert response.status_code == 304
    assert_policy(response, "patient")


# (marker, request headers, status, $neonpro_data_class, $neonpro_legal_basis,
#  $neonpro_no_cache)
ESCALATED_VARIABLE_CASES = [
    pytest.param("patient", LEGAL_HEADERS, 200, "patient", "health_protection", "1",
                 id="raised-and-accepted"),
    pytest.param("patient", {}, 403, "patient", "", "1", id="raised-and-refused"),
    pytest.param("image", LEGAL_HEADERS, 200, "api", "", "", id="not-lowered"),
]


@pytest.mark.parametrize("marker, headers, status, data_class, basis, no_cache",
                         ESCALATED_VARIABLE_CASES)
def test_variables_after_escalation(nginx, clean_agent, marker, headers, status, data_class,
                                    basis, no_cache):
    ng = start(nginx, "api")
    path = marked("/api/clinics", marker)

    response = ng.get(path, headers=headers)
    line = ng.wait_for_line("access.log", path + " ")

    assert response.status_code == status
    assert f"class=[{data_class}]" in line
    assert f"basis=[{basis}]" in line.lower()
    assert f"no_cache=[{no_cache}]" in line
