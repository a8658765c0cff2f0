"""Rate limits of HTTP locations (neonpro_rate_limit): GCRA quotas in a
shared memory zone, exact across workers, with the RateLimit-Policy and
RateLimit fields of the IETF httpapi draft, the legacy X-RateLimit trio as an
option, and 429 RATE_LIMITED with Retry-After."""

import asyncio
import json

import httpx
import pytest

from auth_support import Keys

FILES = {"html/ok.txt": "ok\n", "html/api/ok.txt": "ok\n", "html/open/ok.txt": "ok\n"}

ONE_LIMIT = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port} reuseport;
    root {prefix}/html;
    location / {
        neonpro_rate_limit api zone=limits key=$remote_addr rate=50/15m;
    }
}
"""


def get(server, path="/ok.txt", **kwargs):
    return httpx.get(f"http://127.0.0.1:{server.port}{path}", timeout=10, **kwargs)


def test_exact_count_across_workers(nginx):
    """150 concurrent requests on 4 workers: exactly 50 pass."""
    server = nginx(ONE_LIMIT, workers=4, files=FILES)

    async def scenario():
        limits = httpx.Limits(max_connections=30, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:
            url = f"http://127.0.0.1:{server.port}/ok.txt"
            return await asyncio.gather(*(client.get(url) for _ in range(150)))

    responses = asyncio.run(scenario())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 100

    # the requests were spread over more than one worker
    workers = {line.split("#")[1].split(":")[0] for line in server.error_log().splitlines()
               if "refused the request" in line}
    assert len(workers) > 1, "every refusal came from one worker; the test shows nothing"


SMALL_LIMIT = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location / {
        neonpro_rate_limit api zone=limits key=$remote_addr rate=5/1m;
    }
    location /open/ {
        neonpro_rate_limit_headers legacy;
        neonpro_rate_limit open zone=limits key=$remote_addr rate=5/1m;
    }
    location /api/ {
        neonpro_rate_limit_headers both;
        neonpro_rate_limit api zone=limits key=$remote_addr rate=5/1m;
    }
}
"""


def test_fields_count_down_then_429(nginx):
    server = nginx(SMALL_LIMIT, files=FILES)
    responses = [get(server) for _ in range(6)]

    assert [r.status_code for r in responses] == [200] * 5 + [429]
    first = responses[0].headers
    assert first["ratelimit-policy"] == '"api";q=5;w=60'
    assert first["ratelimit"] == '"api";r=4;t=12'
    assert responses[4].headers["ratelimit"] == '"api";r=0;t=60'
    assert "x-ratelimit-limit" not in first

    refused = responses[5]
    assert refused.headers["retry-after"] == "12"
    assert refused.headers["ratelimit"].startswith('"api";r=0;')
    body = refused.json()
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["retryable"] is True
    assert "Muitas requisições" in body["error"]["message"]
    assert refused.headers["content-type"].startswith("application/json")

    english = get(server, headers={"Accept-Language": "en"})
    assert english.status_code == 429
    assert english.json()["error"]["message"].startswith("Too many requests")


def test_legacy_and_both_fields(nginx):
    server = nginx(SMALL_LIMIT, files=FILES)

    legacy = get(server, "/open/ok.txt").headers
    assert legacy["x-ratelimit-limit"] == "5"
    assert legacy["x-ratelimit-remaining"] == "4"
    assert legacy["x-ratelimit-reset"] == "12"
    assert "ratelimit" not in legacy
    assert "ratelimit-policy" not in legacy

    both = get(server, "/api/ok.txt").headers
    assert both["ratelimit"] == '"api";r=4;t=12'
    assert both["x-ratelimit-remaining"] == "4"


SEVERAL_LIMITS = """
neonpro_rate_limit_zone users 1m;
neonpro_rate_limit_zone addresses 1m;
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location / {
        neonpro_rate_limit user zone=users key=$http_x_demo_user rate=3/1m;
        neonpro_rate_limit address zone=addresses key=$remote_addr rate=5/1m;
    }
}
"""


def test_several_limits_and_no_charge_when_refused(nginx):
    server = nginx(SEVERAL_LIMITS, files=FILES)

    def as_user(user):
        return get(server, headers={"X-Demo-User": user})

    first = [as_user("u-1") for _ in range(5)]
    assert [r.status_code for r in first] == [200, 200, 200, 429, 429]
    assert first[0].headers["ratelimit-policy"] == '"user";q=3;w=60, "address";q=5;w=60'
    # the refused requests took nothing from the address quota
    assert first[4].headers["ratelimit"].endswith('"address";r=2;t=36')

    second = [as_user("u-2") for _ in range(3)]
    assert [r.status_code for r in second] == [200, 200, 429]

    # without a user the user limit does not apply, the address one does
    anonymous = get(server)
    assert anonymous.status_code == 429
    assert anonymous.headers["ratelimit-policy"] == '"address";q=5;w=60'


INHERITED = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    neonpro_rate_limit server zone=limits key=$remote_addr rate=2/1m;
    location / { }
    location /api/ {
        neonpro_rate_limit api zone=limits key=$remote_addr rate=4/1m;
    }
}
"""


def test_location_limits_replace_inherited_ones(nginx):
    server = nginx(INHERITED, files=FILES)

    inherited = [get(server).status_code for _ in range(3)]
    own = [get(server, "/api/ok.txt") for _ in range(5)]

    assert inherited == [200, 200, 429]
    assert [r.status_code for r in own] == [200] * 4 + [429]
    assert own[0].headers["ratelimit-policy"] == '"api";q=4;w=60'


AGENT_LIMITED = """
neonpro_rate_limit_zone limits 1m;
upstream ai_agent { server 127.0.0.1:{agent_port}; }
server {
    listen 127.0.0.1:{port};
    location /api/ {
        neonpro_agent_pass http://ai_agent;
        neonpro_rate_limit api zone=limits key=$remote_addr rate=2/1m;
    }
}
"""


def test_fields_on_an_agent_reply(nginx):
    server = nginx(AGENT_LIMITED)
    responses = [get(server, "/api/appointments") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[0].headers["ratelimit"] == '"api";r=1;t=30'
    assert json.loads(responses[0].text)


@pytest.mark.parametrize(
    "directive, message",
    [
        ("neonpro_rate_limit api zone=limits key=$remote_addr rate=many;", 'invalid rate "many"'),
        ("neonpro_rate_limit api zone=limits key=$remote_addr rate=0/1m;", 'invalid rate "0/1m"'),
        ("neonpro_rate_limit api zone=limits key=$remote_addr rate=5/soon;", 'invalid rate "5/soon"'),
        ("neonpro_rate_limit api key=$remote_addr rate=5/1m;", 'rate limit "api" needs zone=, key= and rate='),
        ('neonpro_rate_limit "a b" zone=limits key=$remote_addr rate=5/1m;', 'invalid rate limit name "a b"'),
        ("neonpro_rate_limit api zone=limits key=$remote_addr rate=5/1m burst=2;", 'invalid parameter "burst=2"'),
        ("neonpro_rate_limit api zone=limits key=$remote_addr rate=5/1m; "
         "neonpro_rate_limit api zone=limits key=$remote_addr rate=9/1m;", 'rate limit "api" is duplicate'),
        ("neonpro_rate_limit_headers sometimes;", 'invalid value "sometimes"'),
        ("neonpro_rate_limit api zone=nowhere key=$remote_addr rate=5/1m;",
         'rate limit zone "nowhere" is used but not defined: add "neonpro_rate_limit_zone nowhere size;"'),
    ],
)
def test_bad_rate_limit_directives(nginx_t, directive, message):
    returncode, stderr = nginx_t(
        "neonpro_rate_limit_zone limits 1m;\n"
        "server { listen 127.0.0.1:1; location / { " + directive + " } }"
    )
    assert returncode != 0
    assert message in stderr, stderr


def test_bad_zone_size(nginx_t):
    returncode, stderr = nginx_t("neonpro_rate_limit_zone limits 1k;\nserver { listen 127.0.0.1:1; }")
    assert returncode != 0
    assert 'invalid zone size "1k"' in stderr, stderr


PATIENT_LIMITED = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location / {
        neonpro_data_class patient;
        neonpro_rate_limit patient zone=limits key=$remote_addr rate=2/1m;
    }
}
"""

LEGAL_BASIS = {"X-LGPD-Legal-Basis": "vital_interest", "X-LGPD-Purpose": "medical_care"}


def test_legal_basis_is_checked_before_the_limit(nginx):
    """A request without a legal basis is refused with 403 and not counted."""
    server = nginx(PATIENT_LIMITED, files=FILES)

    missing = [get(server) for _ in range(3)]
    allowed = [get(server, headers=LEGAL_BASIS) for _ in range(3)]

    assert [r.status_code for r in missing] == [403] * 3
    assert "ratelimit" not in missing[0].headers
    assert [r.status_code for r in allowed] == [200, 200, 429]


PER_USER = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port} reuseport;
    root {prefix}/html;
    location / {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_key {prefix}/keys/rsa.pem kid=rsa1;
        neonpro_rate_limit chat zone=limits key=$neonpro_user_id rate=20/1m;
    }
}
"""


def test_exact_count_per_verified_user_across_workers(nginx):
    """Three users, 60 concurrent requests each, on 4 workers: 20 each pass."""
    keys = Keys()
    files = dict(FILES)
    files.update(keys.files())
    server = nginx(PER_USER, workers=4, files=files)
    tokens = {user: keys.token(sub=user) for user in ("u-1", "u-2", "u-3")}

    async def scenario():
        limits = httpx.Limits(max_connections=30, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:
            url = f"http://127.0.0.1:{server.port}/ok.txt"
            requests = [(user, client.get(url, headers={"Authorization": f"Bearer {token}"}))
                        for user, token in tokens.items() for _ in range(60)]
            responses = await asyncio.gather(*(request for _, request in requests))
            return [(user, r.status_code) for (user, _), r in zip(requests, responses)]

    results = asyncio.run(scenario())
    for user in tokens:
        statuses = [status for who, status in results if who == user]
        assert statuses.count(200) == 20, user
        assert statuses.count(429) == 40, user


REALIP = """
neonpro_rate_limit_zone limits 1m;
server {
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location / {
        neonpro_rate_limit address zone=limits key=$binary_remote_addr rate=2/1m;
    }
    location /api/ {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        neonpro_rate_limit proxied zone=limits key=$binary_remote_addr rate=2/1m;
    }
}
"""


def test_client_address_comes_from_realip_only(nginx):
    """X-Forwarded-For counts only where realip trusts the proxy."""
    server = nginx(REALIP, files=FILES)

    def from_(path, address):
        return get(server, path, headers={"X-Forwarded-For": address}).status_code

    # without realip the header is ignored: every request is 127.0.0.1's
    raw = [from_("/ok.txt", f"10.0.0.{n}") for n in range(1, 4)]
    # behind a trusted proxy each client address has its own quota
    proxied_a = [from_("/api/ok.txt", "10.0.0.1") for _ in range(3)]
    proxied_b = [from_("/api/ok.txt", "10.0.0.2") for _ in range(2)]

    assert raw == [200, 200, 429]
    assert proxied_a == [200, 200, 429]
    assert proxied_b == [200, 200]
