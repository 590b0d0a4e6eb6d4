"""The FastAPI app factory: `python -m api` (api/__main__.py) serves it under uvicorn."""

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError

import log_setup
from api import dashboard
from api.auth import HashingBusy, Tokens, argon2_queue
from api.body_limit import BodyLimit
from api.event_hub import Event, EventHub
from api.event_listener import EventListener
from api.http_metrics import RouteLatency
from api.inbox_group import InboxGroups
from api.job_notices import JobNotifier
from api.job_records import JobRecords
from api.job_sockets import SharedListings, SocketSlots
from api.jobs import Jobs
from api.progress_hub import ProgressHub
from api.routes import auth, codec, events, health, jobs, metrics, tasks, telegram_link, tracker_webhook
from api.storable_text import storable_text
from api.temporal import TemporalGateway, TemporalUnavailable, is_unavailable
from api.user_state import UserStates
from applications import APPLICATIONS
from clients.providers import ProviderClients
from db.session import database_unavailable, make_engine, make_session_factory
from runtime.payload_codec import EncryptionCodec, payload_keys
from settings import Settings, get_settings

RETRY_AFTER_SECONDS = "5"

# Every router of the API, in the order routes are matched: the applications' first (the tracker's leads, so that
# Telegram's webhook, hundreds of requests a second at peak, comes before every other route), then the shared ones.
# (The dashboard's page and config come last, from dashboard.install.) tests/test_authorization.py holds a row for each
# of their routes.
ROUTERS = (
    *(router for application in APPLICATIONS for router in application.routers()),
    *(module.router for module in (auth, codec, events, health, jobs, metrics, tasks, telegram_link)),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Room for every webhook request of a slow WAL flush: requests waiting inside Postgres all complete with
        # the one flush they wait on; a request waiting for a pooled connection waits for that flush and then its own.
        engine = make_engine(settings, "longrun-api", pool_size=settings.api_database_pool_size)
        app.state.settings = settings
        app.state.sessions = make_session_factory(engine)
        app.state.inbox_groups = InboxGroups(engine, settings.tracker_webhook_group_ms / 1000)
        app.state.tokens = Tokens(settings)
        app.state.user_states = UserStates(app.state.sessions, settings.user_state_cache_seconds)
        app.state.temporal = TemporalGateway(settings)
        app.state.jobs = Jobs(app.state.temporal, JobRecords(app.state.sessions))
        app.state.temporal_codec = EncryptionCodec(payload_keys(settings))
        app.state.hub = ProgressHub(app.state.jobs)
        app.state.socket_slots = SocketSlots(settings.websockets_per_user)
        app.state.job_listings = SharedListings(app.state.jobs)
        app.state.events = EventHub()
        # Search embeds its query with the active provider: one client per provider, kept for the process.
        app.state.providers = ProviderClients(settings)
        app.state.event_listener = EventListener(
            settings.listen_database_url,
            app.state.events.dispatch,
            lambda: app.state.events.broadcast(Event.of({"type": "stream.resumed"})),
        )
        app.state.event_listener.start()
        app.state.job_notifier = JobNotifier(settings, app.state.sessions, app.state.temporal, app.state.jobs)
        app.state.job_notifier.start()
        yield
        await app.state.job_notifier.close()
        await app.state.event_listener.close()
        app.state.events.close()
        await app.state.hub.close()
        await app.state.providers.close()
        await app.state.inbox_groups.close()
        await engine.dispose()

    app = FastAPI(title="Longrun", version="0.1.0", lifespan=lifespan, dependencies=[Depends(storable_text)])
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(codec.WebUiCors, temporal_ui_url=settings.temporal_ui_url)
    app.add_middleware(RouteLatency)
    # Outermost, in this order: the webhook's secret, then every body's bound, both before a body is read.
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        per_prefix={
            tracker_webhook.PATH: settings.webhook_max_body_bytes,
            codec.PREFIX + "/": settings.codec_max_body_bytes,
        },
        max_depth=settings.max_json_depth,
    )
    app.add_middleware(tracker_webhook.SecretFirst, settings=settings)

    argon2_queue.limit = settings.login_verify_queue
    log_setup.redact_server_logs()

    @app.exception_handler(HashingBusy)
    async def hashing_busy(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "too many passwords are being checked at once; try again shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(TemporalUnavailable)
    async def temporal_unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "the job service (Temporal) is unavailable; try again shortly"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if is_unavailable(exc):
            return await temporal_unavailable(request, exc)
        return JSONResponse({"detail": f"the job service refused the request: {exc.message}"}, status_code=502)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            raise exc  # a bug: the 500 it becomes is ours to fix
        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        return JSONResponse(
            {"detail": f"the database {'connection was lost' if lost else 'is unavailable'}; try again shortly"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    dashboard.install(app)

    return app
