"""Inheritance of the LGPD filter directives across http, server and location.

docs/directives.md fixes the rule: neonpro_security_header,
neonpro_compliance_header and neonpro_cache_control (per class) inherit every
entry of the enclosing level and override only the names a level sets, `off`
removes one header, scalar directives follow nginx's usual override rule, and
neonpro_legal_bases / neonpro_legal_purposes are replaced as whole lists.

Each config below has two virtual servers on one port, told apart by the Host
header, and every location serves the file html/ok.txt through `alias`, so a
request passes the access phase where the legal-basis check runs.
"""

import json

import pytest

from conftest import (
    CACHE_POLICY,
    COMPLIANCE_HEADERS,
    LEGAL_HEADERS,
    PATIENT_COMPLIANCE_HEADERS,
    SECURITY_HEADERS,
)

FILES = {"html/ok.txt": "ok\n"}
SERVE = "alias {prefix}/html/;"
COOKIE = {"Cookie": "session=abc123"}


def request_file(ng, host, path, headers=None):
    """Request html/ok.txt through the location `path`, or `path` itself if it names a file."""
    all_headers = {"Host": host}
    all_headers.update(LEGAL_HEADERS)
    all_headers.update(headers or {})
    if path.endswith("/"):
        path += "ok.txt"
    return ng.get(path, headers=all_headers)


def assert_headers(response, expected):
    """Assert each name of `expected` has exactly that value, or is absent for None."""
    for name, value in expected.items():
        if value is None:
            assert name not in response.headers, f"{name} must be absent"
        else:
            assert response.headers.get_list(name) == [value], name


# ---------------------------------------------------------------------------
# neonpro_security_header

SECURITY_CONFIG = """
neonpro_security_header X-Frame-Options SAMEORIGIN;
neonpro_security_header Cross-Origin-Opener-Policy same-origin;

server {
    listen 127.0.0.1:{port};
    server_name a.test;
    neonpro_security_header Referrer-Policy no-referrer;

    location /plain/ { neonpro_data_class static; SERVE }
    location /override/ {
        neonpro_data_class static;
        neonpro_security_header X-Frame-Options DENY;
        SERVE
    }
    location /remove/ {
        neonpro_data_class static;
        neonpro_security_header X-Content-Type-Options off;
        neonpro_security_header Cross-Origin-Opener-Policy off;
        SERVE
    }
    location /add/ {
        neonpro_data_class api;
        neonpro_security_header Cross-Origin-Resource-Policy same-site;
        SERVE
    }
    location /nested/ {
        neonpro_data_class image;
        neonpro_security_header X-Frame-Options DENY;
        location /nested/deeper/ {
            neonpro_security_header Referrer-Policy same-origin;
            SERVE
        }
        SERVE
    }
}

server {
    listen 127.0.0.1:{port};
    server_name b.test;
    neonpro_security_header X-Frame-Options off;

    location /plain/ { neonpro_data_class patient; SERVE }
    location /restore/ {
        neonpro_data_class patient;
        neonpro_security_header X-Frame-Options SAMEORIGIN;
        SERVE
    }
}
""".replace("SERVE", SERVE)


def security_expectation(**changes):
    """Return the default security headers with the given names changed.

    Keyword names use underscores for dashes, and a value of None means absent.
    """
    expected = dict(SECURITY_HEADERS)
    expected["Cross-Origin-Opener-Policy"] = None
    expected["Cross-Origin-Resource-Policy"] = None
    for name, value in changes.items():
        expected[name.replace("_", "-")] = value
    return expected


SECURITY_CASES = [
    pytest.param(
        "a.test", "/plain/",
        security_expectation(X_Frame_Options="SAMEORIGIN", Referrer_Policy="no-referrer",
                             Cross_Origin_Opener_Policy="same-origin"),
        id="location-inherits-http-and-server",
    ),
    pytest.param(
        "a.test", "/override/",
        security_expectation(X_Frame_Options="DENY", Referrer_Policy="no-referrer",
                             Cross_Origin_Opener_Policy="same-origin"),
        id="location-overrides-one-name",
    ),
    pytest.param(
        "a.test", "/remove/",
        security_expectation(X_Frame_Options="SAMEORIGIN", Referrer_Policy="no-referrer",
                             X_Content_Type_Options=None, Cross_Origin_Opener_Policy=None),
        id="location-removes-with-off",
    ),
    pytest.param(
        "a.test", "/add/",
        security_expectation(X_Frame_Options="SAMEORIGIN", Referrer_Policy="no-referrer",
                             Cross_Origin_Opener_Policy="same-origin",
                             Cross_Origin_Resource_Policy="same-site"),
        id="location-adds-new-name",
    ),
    pytest.param(
        "a.test", "/nested/",
        security_expectation(X_Frame_Options="DENY", Referrer_Policy="no-referrer",
                             Cross_Origin_Opener_Policy="same-origin"),
        id="outer-location",
    ),
    pytest.param(
        "a.test", "/nested/deeper/",
        security_expectation(X_Frame_Options="DENY", Referrer_Policy="same-origin",
                             Cross_Origin_Opener_Policy="same-origin"),
        id="nested-location-inherits-outer",
    ),
    pytest.param(
        "b.test", "/plain/",
        security_expectation(X_Frame_Options=None, Cross_Origin_Opener_Policy="same-origin"),
        id="server-removes-http-entry",
    ),
    pytest.param(
        "b.test", "/restore/",
        security_expectation(X_Frame_Options="SAMEORIGIN",
                             Cross_Origin_Opener_Policy="same-origin"),
        id="location-restores-removed-name",
    ),
]


@pytest.mark.parametrize("host, path, expected", SECURITY_CASES)
def test_security_header_inheritance(nginx, host, path, expected):
    ng = nginx(SECURITY_CONFIG, files=FILES)

    response = request_file(ng, host, path)

    assert response.status_code == 200
    assert_headers(response, expected)


# ---------------------------------------------------------------------------
# neonpro_compliance_header

COMPLIANCE_CONFIG = """
neonpro_compliance_header X-Data-Residency brazil-sp;
neonpro_compliance_header X-DPO-Contact dpo@clinic.example patient;

server {
    listen 127.0.0.1:{port};
    server_name a.test;
    neonpro_compliance_header X-Processing-Record ropa-2025;

    location /api/ { neonpro_data_class api; SERVE }
    location /patient/ { neonpro_data_class patient; SERVE }
    location /api-off/ {
        neonpro_data_class api;
        neonpro_compliance_header X-LGPD-Compliant off;
        neonpro_compliance_header X-Processing-Record off;
        SERVE
    }
    location /patient-override/ {
        neonpro_data_class patient;
        neonpro_compliance_header X-Data-Retention 25-years patient;
        neonpro_compliance_header X-DPO-Contact off;
        SERVE
    }
    location /image/ { neonpro_data_class image; SERVE }
}

server {
    listen 127.0.0.1:{port};
    server_name b.test;
    neonpro_compliance_header X-Data-Residency off;

    location /api/ { neonpro_data_class api; SERVE }
    location /patient/ {
        neonpro_data_class patient;
        neonpro_compliance_header X-Data-Residency brazil-rj;
        SERVE
    }
}
""".replace("SERVE", SERVE)


def compliance_expectation(policy, **changes):
    """Return the default compliance headers of a policy with names changed.

    Keyword names use underscores for dashes, and a value of None means absent.
    """
    expected = {}
    for name, value in COMPLIANCE_HEADERS.items():
        expected[name] = value if policy in ("api", "patient") else None
    for name, value in PATIENT_COMPLIANCE_HEADERS.items():
        expected[name] = value if policy == "patient" else None
    expected["X-DPO-Contact"] = None
    expected["X-Processing-Record"] = None
    for name, value in changes.items():
        expected[name.replace("_", "-")] = value
    return expected


COMPLIANCE_CASES = [
    pytest.param(
        "a.test", "/api/",
        compliance_expectation("api", X_Data_Residency="brazil-sp",
                               X_Processing_Record="ropa-2025"),
        id="api-inherits-http-and-server",
    ),
    pytest.param(
        "a.test", "/patient/",
        compliance_expectation("patient", X_Data_Residency="brazil-sp",
                               X_Processing_Record="ropa-2025",
                               X_DPO_Contact="dpo@clinic.example"),
        id="patient-flag-header-on-patient",
    ),
    pytest.param(
        "a.test", "/api-off/",
        compliance_expectation("api", X_LGPD_Compliant=None, X_Data_Residency="brazil-sp"),
        id="location-removes-with-off",
    ),
    pytest.param(
        "a.test", "/patient-override/",
        compliance_expectation("patient", X_Data_Residency="brazil-sp",
                               X_Processing_Record="ropa-2025", X_Data_Retention="25-years"),
        id="location-overrides-and-removes",
    ),
    pytest.param(
        "a.test", "/image/",
        compliance_expectation("image"),
        id="image-gets-none",
    ),
    pytest.param(
        "b.test", "/api/",
        compliance_expectation("api", X_Data_Residency=None),
        id="server-removes-http-entry",
    ),
    pytest.param(
        "b.test", "/patient/",
        compliance_expectation("patient", X_Data_Residency="brazil-rj",
                               X_DPO_Contact="dpo@clinic.example"),
        id="location-restores-removed-name",
    ),
]


@pytest.mark.parametrize("host, path, expected", COMPLIANCE_CASES)
def test_compliance_header_inheritance(nginx, host, path, expected):
    ng = nginx(COMPLIANCE_CONFIG, files=FILES)

    response = request_file(ng, host, path)

    assert response.status_code == 200
    assert_headers(response, expected)


# ---------------------------------------------------------------------------
# neonpro_cache_control, per class

CACHE_CONFIG = """
neonpro_cache_control api "public, max-age=60";

server {
    listen 127.0.0.1:{port};
    server_name a.test;
    neonpro_cache_control credentialed "private, max-age=30";

    location /api/ { neonpro_data_class api; SERVE }
    location /api-own/ {
        neonpro_data_class api;
        neonpro_cache_control api "public, max-age=10";
        SERVE
    }
    location /api-credentialed/ {
        neonpro_data_class api;
        neonpro_cache_control credentialed "no-store";
        SERVE
    }
    location /patient/ { neonpro_data_class patient; SERVE }
    location /image/ { neonpro_data_class image; SERVE }
    location /static-own/ {
        neonpro_data_class static;
        neonpro_cache_control static "public, max-age=5";
        SERVE
    }
}

server {
    listen 127.0.0.1:{port};
    server_name b.test;
    neonpro_cache_control patient "no-store" pragma=no-cache;
    neonpro_cache_control error "no-cache";

    location /patient/ { neonpro_data_class patient; SERVE }
    location /patient-own/ {
        neonpro_data_class patient;
        neonpro_cache_control patient "no-store, private";
        SERVE
    }
    location /api/ { neonpro_data_class api; SERVE }
    location /image/ { neonpro_data_class image; SERVE }
    location /error-own/ {
        neonpro_data_class static;
        neonpro_cache_control error "private, no-store" expires=0;
        SERVE
    }
}
""".replace("SERVE", SERVE)

# (host, path, request headers, Cache-Control, Pragma list, Expires list)
CACHE_CASES = [
    pytest.param("a.test", "/api/", {}, "public, max-age=60", [], [],
                 id="api-from-http"),
    pytest.param("a.test", "/api/", COOKIE, "private, max-age=30", [], [],
                 id="credentialed-from-server"),
    pytest.param("a.test", "/api-own/", {}, "public, max-age=10", [], [],
                 id="api-from-location"),
    pytest.param("a.test", "/api-own/", COOKIE, "private, max-age=30", [], [],
                 id="credentialed-kept-when-location-sets-api"),
    pytest.param("a.test", "/api-credentialed/", {}, "public, max-age=60", [], [],
                 id="api-kept-when-location-sets-credentialed"),
    pytest.param("a.test", "/api-credentialed/", COOKIE, "no-store", [], [],
                 id="credentialed-from-location"),
    pytest.param("a.test", "/patient/", {}, CACHE_POLICY["patient"][0], ["no-cache"], ["0"],
                 id="patient-default"),
    pytest.param("a.test", "/image/", {}, CACHE_POLICY["image"][0], [], [],
                 id="image-default"),
    pytest.param("a.test", "/static-own/", {}, "public, max-age=5", [], [],
                 id="static-from-location"),
    pytest.param("b.test", "/patient/", {}, "no-store", ["no-cache"], [],
                 id="patient-from-server"),
    pytest.param("b.test", "/patient-own/", {}, "no-store, private", [], [],
                 id="location-entry-replaces-pragma-too"),
    pytest.param("b.test", "/api/", {}, "public, max-age=60", [], [],
                 id="api-from-http-in-second-server"),
    pytest.param("b.test", "/api/", COOKIE, CACHE_POLICY["credentialed"][0], [], [],
                 id="credentialed-default-in-second-server"),
]


@pytest.mark.parametrize("host, path, headers, cache_control, pragma, expires", CACHE_CASES)
def test_cache_control_inheritance(nginx, host, path, headers, cache_control, pragma, expires):
    ng = nginx(CACHE_CONFIG, files=FILES)

    response = request_file(ng, host, path, headers)

    assert response.status_code == 200
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == pragma
    assert response.headers.get_list("Expires") == expires


# (host, path of a missing file, request headers, Cache-Control, Pragma list,
#  Expires list) for 404 responses, which take the error entry.
ERROR_CACHE_CASES = [
    pytest.param("a.test", "/api/missing.txt", {}, "no-store", [], [],
                 id="error-default"),
    pytest.param("a.test", "/api/missing.txt", COOKIE, "no-store", [], [],
                 id="error-default-with-credentials"),
    pytest.param("a.test", "/static-own/missing.txt", {}, "no-store", [], [],
                 id="error-default-beside-static-entry"),
    pytest.param("a.test", "/patient/missing.txt", {}, CACHE_POLICY["patient"][0],
                 ["no-cache"], ["0"], id="patient-error-keeps-patient"),
    pytest.param("b.test", "/api/missing.txt", {}, "no-cache", [], [],
                 id="error-from-server"),
    pytest.param("b.test", "/image/missing.txt", {}, "no-cache", [], [],
                 id="error-from-server-for-image"),
    pytest.param("b.test", "/error-own/missing.txt", {}, "private, no-store", [], ["0"],
                 id="error-from-location"),
    pytest.param("b.test", "/patient/missing.txt", {}, "no-store", ["no-cache"], [],
                 id="patient-error-from-server-patient-entry"),
]


@pytest.mark.parametrize("host, path, headers, cache_control, pragma, expires",
                         ERROR_CACHE_CASES)
def test_error_cache_control_inheritance(nginx, host, path, headers, cache_control, pragma,
                                         expires):
    ng = nginx(CACHE_CONFIG, files=FILES)

    response = request_file(ng, host, path, headers)

    assert response.status_code == 404
    assert response.headers.get_list("Cache-Control") == [cache_control]
    assert response.headers.get_list("Pragma") == pragma
    assert response.headers.get_list("Expires") == expires


# ---------------------------------------------------------------------------
# Scalar directives

SCALAR_CONFIG = """
neonpro_data_class api;
neonpro_compliance_headers off;

server {
    listen 127.0.0.1:{port};
    server_name a.test;
    neonpro_security_headers off;
    neonpro_data_class_marker on;

    location /inherit/ { SERVE }
    location /class-off/ { neonpro_data_class off; SERVE }
    location /image/ { neonpro_data_class image; SERVE }
    location /turned-on/ {
        neonpro_security_headers on;
        neonpro_compliance_headers on;
        neonpro_data_class_marker off;
        SERVE
    }
}

server {
    listen 127.0.0.1:{port};
    server_name b.test;
    neonpro_data_class static;
    neonpro_compliance_headers on;

    location /inherit/ { SERVE }
    location /api/ { neonpro_data_class api; SERVE }
    location /patient/ { neonpro_data_class patient; SERVE }
}
""".replace("SERVE", SERVE)

# (host, path, class applied or None for no filter, security headers on,
#  compliance headers on, X-Data-Classification expected)
SCALAR_CASES = [
    pytest.param("a.test", "/inherit/", "api", False, False, "api",
                 id="all-inherited"),
    pytest.param("a.test", "/class-off/", None, False, False, None,
                 id="class-off-in-location"),
    pytest.param("a.test", "/image/", "image", False, False, "image",
                 id="class-overridden-in-location"),
    pytest.param("a.test", "/turned-on/", "api", True, True, None,
                 id="switches-overridden-in-location"),
    pytest.param("b.test", "/inherit/", "static", True, False, None,
                 id="class-overridden-in-server"),
    pytest.param("b.test", "/api/", "api", True, True, None,
                 id="compliance-on-from-server"),
    pytest.param("b.test", "/patient/", "patient", True, True, "patient",
                 id="patient-in-second-server"),
]


@pytest.mark.parametrize(
    "host, path, data_class, security_on, compliance_on, marker", SCALAR_CASES
)
def test_scalar_directive_inheritance(nginx, host, path, data_class, security_on,
                                      compliance_on, marker):
    ng = nginx(SCALAR_CONFIG, files=FILES)

    response = request_file(ng, host, path)

    assert response.status_code == 200
    if data_class is None:
        assert "Cache-Control" not in response.headers
    else:
        assert response.headers.get_list("Cache-Control") == [CACHE_POLICY[data_class][0]]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == ([value] if security_on else []), name
    for name, value in COMPLIANCE_HEADERS.items():
        assert response.headers.get_list(name) == ([value] if compliance_on else []), name
    assert response.headers.get_list("X-Data-Classification") == ([marker] if marker else [])


# ---------------------------------------------------------------------------
# neonpro_legal_bases and neonpro_legal_purposes

LIST_CONFIG = """
neonpro_legal_bases consent health_protection;
neonpro_legal_purposes medical_care billing;

server {
    listen 127.0.0.1:{port};
    server_name a.test;
    neonpro_data_class patient;

    location /inherit/ { SERVE }
    location /replace/ {
        neonpro_legal_bases contract;
        neonpro_legal_purposes research;
        SERVE
    }
}

server {
    listen 127.0.0.1:{port};
    server_name b.test;
    neonpro_data_class patient;
    neonpro_legal_bases vital_interest;

    location /inherit/ { SERVE }
}
""".replace("SERVE", SERVE)

# (host, path, basis, purpose, status, rejected value or None)
LIST_CASES = [
    pytest.param("a.test", "/inherit/", "consent", "billing", 200, None,
                 id="http-lists-accept-own-entries"),
    pytest.param("a.test", "/inherit/", "health_protection", "medical_care", 200, None,
                 id="http-lists-accept-second-entries"),
    pytest.param("a.test", "/inherit/", "contract", "billing", 403, "contract",
                 id="http-list-replaces-default-bases"),
    pytest.param("a.test", "/inherit/", "consent", "research", 403, "research",
                 id="http-list-replaces-default-purposes"),
    pytest.param("a.test", "/replace/", "contract", "research", 200, None,
                 id="location-lists-accept-own-entries"),
    pytest.param("a.test", "/replace/", "consent", "research", 403, "consent",
                 id="location-basis-list-drops-http-entries"),
    pytest.param("a.test", "/replace/", "contract", "medical_care", 403, "medical_care",
                 id="location-purpose-list-drops-http-entries"),
    pytest.param("b.test", "/inherit/", "vital_interest", "billing", 200, None,
                 id="server-basis-list-and-http-purpose-list"),
    pytest.param("b.test", "/inherit/", "health_protection", "billing", 403,
                 "health_protection", id="server-basis-list-drops-http-entries"),
]


@pytest.mark.parametrize("host, path, basis, purpose, status, rejected", LIST_CASES)
def test_legal_list_replaces_whole_list(nginx, host, path, basis, purpose, status, rejected):
    ng = nginx(LIST_CONFIG, files=FILES)

    response = request_file(
        ng, host, path, {"X-LGPD-Legal-Basis": basis, "X-LGPD-Purpose": purpose}
    )

    assert response.status_code == status
    if rejected is None:
        assert response.headers.get("X-LGPD-Processing-Basis", "").lower() == basis
    else:
        error = json.loads(response.content)["error"]
        assert error["code"] == "LGPD_LEGAL_BASIS_INVALID"
        assert rejected in error["message"]


# ---------------------------------------------------------------------------
# `if` blocks

# An `if` inside a location creates a nested location configuration that
# inherits from the location, so every directive must reach it.
IF_CONFIG = """
server {
    listen 127.0.0.1:{port};

    location /patient/ {
        neonpro_data_class patient;
        neonpro_security_header X-Frame-Options SAMEORIGIN;
        neonpro_compliance_header X-DPO-Contact dpo@clinic.example patient;
        if ($arg_debug) {
            add_header X-Debug on always;
        }
        SERVE
    }
}
""".replace("SERVE", SERVE)


@pytest.mark.parametrize("query", ["", "?debug=1"])
def test_if_block_inherits_location(nginx, query):
    ng = nginx(IF_CONFIG, files=FILES)

    accepted = ng.get("/patient/ok.txt" + query, headers=LEGAL_HEADERS)
    refused = ng.get("/patient/ok.txt" + query)

    assert accepted.status_code == 200
    assert accepted.headers.get_list("Cache-Control") == [CACHE_POLICY["patient"][0]]
    assert accepted.headers.get_list("X-Frame-Options") == ["SAMEORIGIN"]
    assert accepted.headers.get_list("X-DPO-Contact") == ["dpo@clinic.example"]
    assert accepted.headers.get_list("X-Data-Retention") == ["20-years"]
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["code"] == "LGPD_LEGAL_BASIS_REQUIRED"
