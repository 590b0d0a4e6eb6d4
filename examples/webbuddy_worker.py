"""An external WebBuddy worker, exactly as WebBuddy's documentation for its workers writes one: it polls `claim_next`,
processes the query, PATCHes the result and writes logs. Longrun keeps these workers working beside
its own workflows; the atomic claim guarantees each query goes to exactly one of them.

    python examples/webbuddy_worker.py --url http://127.0.0.1:8000 --username worker --password ...

Environment: WEBBUDDY_URL, WORKER_USERNAME, WORKER_PASSWORD, POLLING_INTERVAL (seconds).
"""

import argparse
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import httpx


class WebBuddyAPIClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.token_expires_at: datetime | None = None

    def login(self, username: str, password: str) -> dict:
        response = self.http.post("/api/login/", json={"username": username, "password": password})
        response.raise_for_status()
        data = response.json()
        self.access_token, self.refresh_token = data["access"], data["refresh"]
        self.token_expires_at = datetime.now(UTC) + timedelta(hours=24)
        return data

    def refresh_access_token(self) -> dict:
        response = self.http.post("/api/token/refresh/", json={"refresh": self.refresh_token})
        response.raise_for_status()
        data = response.json()
        self.access_token = data["access"]
        # Refresh tokens rotate: the one just sent is spent, and sending it again would end the session.
        self.refresh_token = data.get("refresh") or self.refresh_token
        self.token_expires_at = datetime.now(UTC) + timedelta(hours=24)
        return data

    def get_headers(self) -> dict:
        if self.token_expires_at and datetime.now(UTC) >= self.token_expires_at - timedelta(minutes=5):
            self.refresh_access_token()
        return {"Authorization": f"Bearer {self.access_token}"}

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, url, headers=self.get_headers(), **kwargs)
        if response.status_code == 401:  # expired early, or the server's secret rotated
            self.refresh_access_token()
            response = self.http.request(method, url, headers=self.get_headers(), **kwargs)
        return response

    def claim_next_query(self) -> dict | None:
        response = self.request("POST", "/api/queries/claim_next/")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def update_query(self, query_id: int, **fields) -> dict:
        response = self.request("PATCH", f"/api/queries/{query_id}/", json=fields)
        response.raise_for_status()
        return response.json()

    def create_log(self, project_id: int, query_id: int, log_data: str) -> dict:
        response = self.request(
            "POST", "/api/logs/", json={"project": project_id, "query": query_id, "log_data": log_data}
        )
        response.raise_for_status()
        return response.json()


def process_query(text: str) -> str:
    """Stand-in for the team's own processing."""
    return f"Processed by an external worker: {text}"


def handle(client: WebBuddyAPIClient, query: dict) -> None:
    print(f"claimed query {query['id']}", flush=True)
    client.create_log(query["project"], query["id"], "Начинаем обработку...")
    try:
        answer = process_query(query["query_text"])
    except Exception as exc:
        client.update_query(query["id"], status="failed", error=str(exc))
        raise
    client.update_query(query["id"], status="done", answer_text=answer, query_finished=datetime.now(UTC).isoformat())
    client.create_log(query["project"], query["id"], "Готово")
    print(f"done query {query['id']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("WEBBUDDY_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--username", default=os.environ.get("WORKER_USERNAME", "worker"))
    parser.add_argument("--password", default=os.environ.get("WORKER_PASSWORD", ""))
    parser.add_argument("--interval", type=float, default=float(os.environ.get("POLLING_INTERVAL", "30")))
    args = parser.parse_args()

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    client = WebBuddyAPIClient(args.url)
    client.login(args.username, args.password)
    print(f"polling {args.url} every {args.interval}s as {args.username}", flush=True)
    while not stopping:
        try:
            query = client.claim_next_query()
            if query:
                handle(client, query)
                continue
        except httpx.HTTPError as exc:
            print(f"error: {exc!r}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
