"""JWK Sets fetched from a URL (neonpro_auth_jwt_jwks_url): each worker
loads the set through libcurl on nginx's event loop and refreshes it, so a
rotated key needs no reload, and a failed refresh keeps the last good set
and says so in the error log. The JWKS is served by a second nginx on
loopback, whose file the tests rewrite."""

import json
import time

import httpx
import jwt

from auth_support import Keys, int_b64url

JWKS_SERVER = """
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
}
"""

PROTECTED = """
server {
    listen 127.0.0.1:{port} reuseport;
    root {prefix}/html;
    location / {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_jwks_url http://localhost:JWKS_PORT/jwks.json interval=1s;
    }
}
"""


def rsa_jwks(*kids_and_keys):
    """Return a JWK Set of the given (kid, RSA private key) pairs' public keys."""
    entries = []
    for kid, key in kids_and_keys:
        numbers = key.public_key().public_numbers()
        entries.append({"kty": "RSA", "kid": kid, "use": "sig",
                        "n": int_b64url(numbers.n), "e": int_b64url(numbers.e)})
    return json.dumps({"keys": entries})


def status(server, token):
    response = httpx.get(f"http://127.0.0.1:{server.port}/ok.txt",
                         headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
                         timeout=10)
    return response.status_code, response.text


def wait_for(server, token, expected, seconds=8):
    """Poll until the token gets the expected status; return the last one."""
    deadline = time.monotonic() + seconds
    while True:
        code, text = status(server, token)
        if code == expected or time.monotonic() > deadline:
            return code, text
        time.sleep(0.2)


def test_jwks_loaded_rotated_and_kept_on_failure(nginx):
    keys = Keys()
    jwks = nginx(JWKS_SERVER, files={"html/jwks.json": rsa_jwks(("rsa-a", keys.rsa))})
    server = nginx(PROTECTED.replace("JWKS_PORT", str(jwks.port)),
                   workers=2, files={"html/ok.txt": "ok\n"})
    jwks_file = jwks.prefix / "html" / "jwks.json"

    token_a = keys.token("RS256", kid="rsa-a")
    token_b = jwt.encode({"sub": "user-b", "exp": int(time.time()) + 600}, keys.rsa_next,
                         algorithm="RS256", headers={"kid": "rsa-b"})

    # loaded by every worker shortly after start
    assert wait_for(server, token_a, 200)[0] == 200
    assert all(status(server, token_a)[0] == 200 for _ in range(6))

    # rotation: rsa-a goes, rsa-b (another key) comes, without a reload
    jwks_file.write_text(rsa_jwks(("rsa-b", keys.rsa_next)))
    assert wait_for(server, token_b, 200)[0] == 200
    code, text = wait_for(server, token_a, 401)
    assert code == 401
    assert "unknown kid" in text

    # a broken document: the last good set stays and the log gives the reason
    jwks_file.write_text("{ not json")
    deadline = time.monotonic() + 8
    while "JWKS refresh" not in server.error_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.error_log()
    assert "the JWKS refresh from \"http://localhost:" in log
    assert "the last good key set stays" in log
    assert all(status(server, token_b)[0] == 200 for _ in range(6))

    # a missing document is a failure too
    jwks_file.unlink()
    deadline = time.monotonic() + 8
    while "(status 404)" not in server.error_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "(status 404)" in server.error_log()
    assert status(server, token_b)[0] == 200


def test_no_key_before_the_first_load(nginx):
    """A JWKS server that is down: tokens are refused, nginx keeps serving."""
    keys = Keys()
    server = nginx(PROTECTED.replace("JWKS_PORT", "1"), files={"html/ok.txt": "ok\n"})

    code, text = status(server, keys.token("RS256", kid="rsa1"))
    deadline = time.monotonic() + 8
    while "JWKS refresh" not in server.error_log() and time.monotonic() < deadline:
        time.sleep(0.2)

    assert code == 401
    assert "no key set is loaded yet" in server.error_log()


def test_bad_jwks_url(nginx_t):
    returncode, stderr = nginx_t(
        "server { listen 127.0.0.1:1; location / { "
        "neonpro_auth_jwt_jwks_url ftp://127.0.0.1/jwks.json; } }")
    assert returncode != 0
    assert 'invalid JWKS URL "ftp://127.0.0.1/jwks.json"' in stderr
