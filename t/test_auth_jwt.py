"""JWT verification (neonpro_auth_jwt): every algorithm, the table of bad
tokens with their status and reason, token sources, the verified-token
cache, claims as variables, identity headers to upstreams and the role
gate."""

import time

import httpx
import pytest

from auth_support import Keys, claims, hand_made, public_pem

KEYS = Keys()

AUTH_HTTP = """
upstream ai_agent { server 127.0.0.1:{agent_port}; }
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;

    neonpro_auth_jwt_key {prefix}/keys/hs.secret kid=hs1;
    neonpro_auth_jwt_key {prefix}/keys/rsa.pem kid=rsa1;
    neonpro_auth_jwt_key {prefix}/keys/keys.jwks;
    neonpro_auth_jwt_issuer https://auth.example.com.br;
    neonpro_auth_jwt_audience neonpro-api;
    neonpro_auth_jwt_cookie sb_access_token;
    neonpro_auth_jwt_max_size 2k;

    add_header X-Debug-Sub $neonpro_jwt_sub always;
    add_header X-Debug-Clinic $neonpro_jwt_claim_clinic_id always;
    add_header X-Debug-Role $neonpro_role always;

    location /api/ { neonpro_auth_jwt required; }
    location /open/ { neonpro_auth_jwt optional; }
    location /public/ { }
    location /short/ { neonpro_auth_jwt required; neonpro_auth_jwt_leeway 0; }
    location /uncached/ { neonpro_auth_jwt required; neonpro_auth_jwt_cache 0; }
    location /staff/ {
        neonpro_auth_jwt required;
        neonpro_require_role ADMIN CLINICAL_STAFF FINANCE_STAFF SUPPORT_READONLY;
    }
    location = /v1/chat {
        neonpro_auth_jwt required;
        neonpro_agent_pass http://ai_agent;
        neonpro_agent_contract chat;
    }
    location /echo/ {
        neonpro_auth_jwt required;
        proxy_pass http://ai_agent/api/echo-headers;
        proxy_set_header X-User-Id $neonpro_user_id;
        proxy_set_header X-Clinic-Id $neonpro_clinic_id;
        proxy_set_header X-Role $neonpro_role;
    }
}
"""

FILES = dict(KEYS.files())
FILES.update({f"html/{d}/ok.txt": "ok\n"
              for d in ("api", "open", "public", "short", "staff", "uncached")})


@pytest.fixture
def server(nginx):
    return nginx(AUTH_HTTP, files=FILES)


auth = server


def get(srv, path="/api/ok.txt", token=None, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    headers.setdefault("Accept-Language", "en")
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"http://127.0.0.1:{srv.port}{path}", headers=headers, timeout=10, **kwargs)


ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256",
              "ES384", "EdDSA"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_algorithm_verifies(auth, alg):
    response = get(auth, token=KEYS.token(alg, sub=f"user-{alg}"))

    assert response.status_code == 200, response.text
    assert response.headers["x-debug-sub"] == f"user-{alg}"
    assert response.headers["x-debug-clinic"] == "clinic-1"
    assert response.headers["x-debug-role"] == "CLINICAL_STAFF"


def now():
    return int(time.time())


# (case, token maker, reason in the 401)
BAD_TOKENS = [
    ("alg-none", lambda: hand_made({"alg": "none", "typ": "JWT"}, claims()), "alg none"),
    ("hs256-with-rsa-public-key",
     lambda: hand_made({"alg": "HS256", "kid": "rsa1"}, claims(), secret=public_pem(KEYS.rsa)),
     "key type does not match algorithm"),
    ("wrong-signature", lambda: KEYS.token("RS256")[:-6] + "AAAAAA", "bad signature"),
    ("expired", lambda: KEYS.token(exp=now() - 3600, iat=now() - 7200), "expired"),
    ("not-yet-valid", lambda: KEYS.token(nbf=now() + 3600), "not yet valid"),
    ("wrong-issuer", lambda: KEYS.token(iss="https://evil.example"), "wrong issuer"),
    ("wrong-audience", lambda: KEYS.token(aud="another-api"), "wrong audience"),
    ("unknown-kid", lambda: KEYS.token(kid="nobody"), "unknown kid"),
    ("kid-with-path", lambda: KEYS.token(kid="../../etc/passwd"), "invalid kid"),
    ("malformed-base64url", lambda: "eyJhbGciOiJIUzI1NiJ9.e30!.c2ln", "bad base64url"),
    ("two-parts", lambda: "eyJhbGciOiJIUzI1NiJ9.e30", "malformed token"),
    ("too-large", lambda: KEYS.token(pad="x" * 3000), "token too large"),
    ("rotated-away-key", lambda: KEYS.token("RS256", kid="rsa-retired"), "unknown kid"),
]


@pytest.mark.parametrize("make_token, reason", [c[1:] for c in BAD_TOKENS],
                         ids=[c[0] for c in BAD_TOKENS])
def test_bad_token_gets_401_with_reason(server, make_token, reason):
    token = make_token()
    response = get(server, token=token)

    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "AUTHENTICATION_FAILED"
    assert body["error"]["retryable"] is False
    assert reason in body["error"]["message"]
    www = response.headers["www-authenticate"]
    assert www.startswith("Bearer ")
    assert 'error="invalid_token"' in www
    assert f'error_description="{reason}"' in www
    log = server.error_log()
    assert token not in log
    for part in token.split("."):
        if len(part) > 8:
            assert part not in log, "a part of the token reached the error log"


def test_reason_in_portuguese_by_default(server):
    response = get(server, token=KEYS.token(exp=now() - 3600, iat=now() - 7200),
                   headers={"Accept-Language": "pt-BR"})

    assert response.status_code == 401
    assert "token expirado" in response.json()["error"]["message"]


def test_log_names_reason_and_kid(auth):
    get(auth, token=KEYS.token(exp=now() - 3600, iat=now() - 7200))

    line = next(l for l in auth.error_log().splitlines() if "JWT rejected" in l)
    assert "expired" in line
    assert 'kid "rsa1"' in line


def test_missing_token(server):
    response = get(server)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="neonpro"'
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_optional_and_off(server):
    assert get(server, "/open/ok.txt").status_code == 200
    assert get(server, "/public/ok.txt").status_code == 200
    assert get(server, "/open/ok.txt", token="garbage").status_code == 401
    assert get(server, "/public/ok.txt", token="garbage").status_code == 200
    identified = get(server, "/open/ok.txt", token=KEYS.token(sub="user-opt"))
    assert identified.headers["x-debug-sub"] == "user-opt"


def test_token_sources(server):
    token = KEYS.token(sub="user-cookie")
    cookie = get(server, headers={"Cookie": f"theme=dark; sb_access_token={token}"})
    query = get(server, params={"access_token": token})

    assert cookie.status_code == 200
    assert cookie.headers["x-debug-sub"] == "user-cookie"
    assert query.status_code == 401, "a token in the query string must not count"

    # the Authorization header comes before the cookie
    both = get(server, token=KEYS.token(sub="user-header"),
               headers={"Cookie": f"sb_access_token={token}"})
    assert both.headers["x-debug-sub"] == "user-header"


def test_cached_token_still_expires(auth):
    """A cached token is refused once its exp passed (leeway 0 here)."""
    token = KEYS.token(exp=now() + 2)

    first = get(auth, "/short/ok.txt", token=token)
    again = get(auth, "/short/ok.txt", token=token)
    time.sleep(3.2)
    late = get(auth, "/short/ok.txt", token=token)

    assert first.status_code == 200
    assert again.status_code == 200
    assert late.status_code == 401
    assert "expired" in late.json()["error"]["message"]


def test_cache_off_verifies_every_request(server):
    token = KEYS.token("ES256", sub="user-uncached")
    responses = [get(server, "/uncached/ok.txt", token=token) for _ in range(3)]

    assert [r.status_code for r in responses] == [200] * 3
    assert responses[2].headers["x-debug-sub"] == "user-uncached"


@pytest.mark.parametrize("role, status", [
    ("ADMIN", 200), ("CLINICAL_STAFF", 200), ("FINANCE_STAFF", 200),
    ("SUPPORT_READONLY", 200), ("PATIENT", 403), (None, 403),
])
def test_role_gate(server, role, status):
    response = get(server, "/staff/ok.txt", token=KEYS.token(role=role))

    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "AUTHORIZATION_FAILED"
        assert response.json()["error"]["message"] == "Your role has no access to this resource."


def test_role_gate_without_token_is_401(server):
    assert get(server, "/staff/ok.txt").status_code == 401


def test_identity_headers_replace_client_copies(server, agent):
    token = KEYS.token(sub="user-9", clinic_id="clinic-7", role="ADMIN")
    response = get(server, "/echo/", token=token,
                   headers={"X-User-Id": "forged", "X-Clinic-Id": "forged", "X-Role": "forged"})

    assert response.status_code == 200
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert seen["x-user-id"] == "user-9"
    assert seen["x-clinic-id"] == "clinic-7"
    assert seen["x-role"] == "ADMIN"


def test_agent_gets_identity_from_the_token(server, clean_agent):
    token = KEYS.token(sub="user-5", clinic_id="clinic-3", role="CLINICAL_STAFF")
    response = httpx.post(
        f"http://127.0.0.1:{server.port}/v1/chat",
        headers={"Authorization": f"Bearer {token}", "X-User-Id": "forged", "X-Role": "ADMIN"},
        json={"session_id": "sess_identity_1", "message": {"content": "Olá"},
              "user": {"id": "forged", "role": "ADMIN"}},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert response.json()["received_user"] == {
        "id": "user-5", "role": "CLINICAL_STAFF", "clinic_id": "clinic-3"}
    sent = clean_agent.requests()[-1]["headers"]
    assert sent["x-user-id"] == "user-5"
    assert sent["x-clinic-id"] == "clinic-3"
    assert sent["x-role"] == "CLINICAL_STAFF"


def test_claim_with_control_bytes_is_absent(server):
    response = get(server, token=KEYS.token(sub="user\r\nX-Evil: 1"))

    assert response.status_code == 200
    assert "x-debug-sub" not in response.headers
    assert "x-evil" not in response.headers


@pytest.mark.parametrize("directive, message", [
    ("neonpro_auth_jwt maybe;", 'invalid value "maybe"'),
    ("neonpro_auth_jwt required;", "neonpro_auth_jwt needs at least one neonpro_auth_jwt_key"),
    ("neonpro_auth_jwt_algorithms RS256 none;", 'invalid algorithm "none"'),
    ("neonpro_require_role ADMIN;", "neonpro_require_role needs neonpro_auth_jwt"),
    ("neonpro_auth_jwt_key /nonexistent/key.pem;", '"/nonexistent/key.pem" failed'),
    ("neonpro_auth_jwt_claims user=sub team=x;", 'invalid parameter "team=x"'),
])
def test_bad_auth_directives(nginx_t, directive, message):
    returncode, stderr = nginx_t(
        "server { listen 127.0.0.1:1; location / { " + directive + " } }"
    )
    assert returncode != 0
    assert message in stderr, stderr


def test_bad_key_file(nginx_t, tmp_path):
    key = tmp_path / "short.secret"
    key.write_text("short\n")
    returncode, stderr = nginx_t(
        "server { listen 127.0.0.1:1; location / { neonpro_auth_jwt_key " + str(key) + "; } }"
    )
    assert returncode != 0
    assert f'invalid key file "{key}"' in stderr, stderr
