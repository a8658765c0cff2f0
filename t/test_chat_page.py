"""The demo chat page in Debian's headless Chromium: two tabs on different
workers see each other's messages and the agent's reply stream in."""

import json
import subprocess

from auth_support import demo_token
from conftest import REPO

BROWSER_DIR = REPO / "t" / "browser"

CHAT_PAGE = """
server {
    listen 127.0.0.1:{port} reuseport;
    # nosniff blocks a script served as text/plain
    include /etc/nginx/mime.types;
    root """ + str(REPO / "conf.example" / "html") + """;
    location /chat/ { neonpro_data_class static; neonpro_cache_control static "no-cache"; }
    location = /ws/chat {
        neonpro_auth_jwt required;
        neonpro_auth_jwt_key """ + str(REPO / "conf.example" / "keys" / "demo-rs256.pem") + """ kid=demo-rs256;
        neonpro_chat;
        neonpro_chat_agent http://127.0.0.1:{agent_port}/v1/chat;
    }
}
"""


def test_two_tabs_on_two_workers(nginx):
    ng = nginx(CHAT_PAGE, workers=2)

    result = subprocess.run(
        ["node", "chat_page.mjs", f"http://127.0.0.1:{ng.port}/chat/", "sess-browser-01",
         demo_token()],
        cwd=BROWSER_DIR, capture_output=True, text=True, timeout=120,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert result.returncode == 0, (seen, result.stderr[-2000:])
    assert seen["workers"][0] != seen["workers"][1]
    assert len(seen["received"]) == 2
    # both tabs show the same reply, which grew over several chunks
    assert seen["replies"][0] == seen["replies"][1]
    assert "Olá do navegador" in seen["replies"][0]
    assert min(seen["growth"]) > 2
    assert seen["anonymous"].startswith("Sem acesso")
