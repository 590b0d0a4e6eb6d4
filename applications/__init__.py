"""Longrun's applications, in one list: `worker.py` runs their workflows and activities, `api/app.py` serves their
routers. A new application is a module here beside these and one line below (docs/jobs.md, "Adding a long
operation")."""

from applications import crossposting, jobs, news, onec, tracker, webbuddy
from applications.application import Application

# The tracker first: its routers are matched before every other (Telegram's webhook leads them; api/app.py).
APPLICATIONS: tuple[Application, ...] = (
    tracker.APPLICATION,
    news.APPLICATION,
    webbuddy.APPLICATION,
    crossposting.APPLICATION,
    onec.APPLICATION,
    # What every job shares: the steps writing its record (workflows/job_records.py).
    jobs.APPLICATION,
)
