"""WebBuddy's worker client and polling loop as WebBuddy's documentation for its workers writes them: the same
endpoints, payloads and token handling (it keeps the first refresh token: `refresh_access_token` never stores the one
a refresh returns). Kept as written on purpose, to prove Longrun serves that client unchanged; do not "fix" it.

Two things differ, neither in what it sends: its clock is a parameter (the document's 24 hours and 5 minutes), so a
test lives a week in seconds, and the loop is a thread that stops on an event and keeps its errors where the
document's prints them.
"""

import threading
from datetime import datetime, timedelta

import requests


class WebBuddyAPIClient:
    token_lifetime = timedelta(hours=24)
    refresh_before = timedelta(minutes=5)

    def __init__(self, base_url="http://localhost:8000"):
        self.base_url = base_url
        self.access_token = None
        self.refresh_token = None
        self.token_expires_at = None

    def login(self, username, password):
        response = requests.post(f"{self.base_url}/api/login/", json={"username": username, "password": password})
        response.raise_for_status()
        data = response.json()

        self.access_token = data["access"]
        self.refresh_token = data["refresh"]
        self.token_expires_at = datetime.now() + self.token_lifetime

        return data

    def refresh_access_token(self):
        response = requests.post(f"{self.base_url}/api/token/refresh/", json={"refresh": self.refresh_token})
        response.raise_for_status()
        data = response.json()

        self.access_token = data["access"]
        self.token_expires_at = datetime.now() + self.token_lifetime

        return data

    def get_headers(self):
        if self.token_expires_at and datetime.now() >= self.token_expires_at - self.refresh_before:
            self.refresh_access_token()

        return {"Authorization": f"Bearer {self.access_token}"}

    def claim_next_query(self):
        try:
            response = requests.post(f"{self.base_url}/api/queries/claim_next/", headers=self.get_headers())
            response.raise_for_status()
            return response.json()
        except requests.exceptions.HTTPError as e:
            if e.response.status_code == 404:
                return None  # the queue is empty
            raise

    def update_query(self, query_id, **fields):
        response = requests.patch(f"{self.base_url}/api/queries/{query_id}/", json=fields, headers=self.get_headers())
        response.raise_for_status()
        return response.json()

    def create_log(self, project_id, query_id, log_data):
        response = requests.post(
            f"{self.base_url}/api/logs/",
            json={"project": project_id, "query": query_id, "log_data": log_data},
            headers=self.get_headers(),
        )
        response.raise_for_status()
        return response.json()


def process_query(text):
    return f"processed: {text}"


def polling_worker(
    client: WebBuddyAPIClient,
    username: str,
    password: str,
    stop: threading.Event,
    errors: list[str],
    poll_seconds: float,
) -> None:
    """The document's minimal worker (polling only), its `asyncio.sleep(30)` and `sleep(10)` a scaled `stop.wait`."""
    client.login(username, password)

    while not stop.is_set():
        try:
            query = client.claim_next_query()

            if query:
                result = process_query(query["query_text"])

                client.update_query(
                    query["id"], status="done", answer_text=result, query_finished=datetime.now().isoformat()
                )
            else:
                stop.wait(poll_seconds)

        except Exception as e:
            errors.append(repr(e))
            stop.wait(poll_seconds)
