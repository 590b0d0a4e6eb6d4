"""The dashboard's live socket carries its access token in its first message, never in its URL (a URL lands in
the server's and every proxy's access log)."""

import json

from tests.support.dashboard_js import Js, literal, page_assets, shipped_file

RECORDING_SOCKET = """
var sockets = [];
WebSocket = class {
  constructor(url) { this.url = url; this.sent = []; sockets.push(this); }
  send(message) { this.sent.push(message); }
  close() {}
};
"""


def test_the_dashboard_sends_its_socket_token_as_the_first_message_not_in_the_url():
    js = Js("page_shim.js")
    try:
        js.run(RECORDING_SOCKET)
        js.run('localStorage.setItem("longrun.access", "access-token")')
        js.run('localStorage.setItem("longrun.refresh", "refresh-token")')
        user = json.dumps({"id": 1, "username": "ann", "role": "admin"})
        js.run(f'localStorage.setItem("longrun.user", {literal(user)})')
        for src in page_assets().scripts:
            js.load(shipped_file(src))
        [url] = js.value("sockets.map((ws) => ws.url)")
        assert url.endswith("/api/v1/ws/jobs") and "access-token" not in url
        js.run("sockets[0].onopen()")
        assert [json.loads(message) for message in js.value("sockets[0].sent")] == [{"token": "access-token"}]
    finally:
        js.close()
