"""Every knob of Longrun, read from the environment (or `.env`).

Defaults describe the embedded stack that `make up` and the tests run, so a fresh
clone works with no configuration at all.
"""

import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

from runtime.queues import parse_kinds
from runtime.temporal_config import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, TemporalTarget, resolve

ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LONGRUN_", env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # LONGRUN_SECRETS_DIR (see secrets_dir below): read before the settings exist, so from the environment.
        if directory := os.environ.get("LONGRUN_SECRETS_DIR"):
            file_secret_settings = SecretsSettingsSource(settings_cls, secrets_dir=directory)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @classmethod
    def without_env_file(cls, **values: Any) -> Self:
        """The environment and `values`, never a developer's `.env` (benches and tools that set what they need)."""
        # `_env_file` is pydantic-settings' init-only option, which its dataclass-like signature does not show.
        return cls(_env_file=None, **values)  # pyright: ignore[reportCallIssue]

    data_dir: Path = ROOT / ".data"

    # Empty means: the embedded PostgreSQL whose socket lives in data_dir/pg.
    database_url: str = ""

    # Where Temporal is: these when set, else Temporal's own TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE or profile (TLS
    # and an API key come from there alone: runtime/temporal_config.py), else the embedded stack's. After
    # validation they hold what every process connects to.
    temporal_address: str = DEFAULT_ADDRESS
    temporal_namespace: str = DEFAULT_NAMESPACE
    # Where a browser reaches the Temporal Web UI; the dashboard links each job there.
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "longrun"

    # With no key the real openai client talks to the local emulator.
    openai_api_key: str = Field(default="", validation_alias=AliasChoices("OPENAI_API_KEY", "LONGRUN_OPENAI_API_KEY"))
    # Empty: OpenAI itself when a key is set, else the local emulator.
    openai_base_url: str = Field(
        default="", validation_alias=AliasChoices("OPENAI_BASE_URL", "LONGRUN_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    llm_timeout_seconds: float = 60.0

    feed_timeout_seconds: float = 20.0
    feed_emulator_url: str = "http://127.0.0.1:8102"

    # Telegram: a user session (bots cannot read a channel's history), made once with pyrogram's
    # export_session_string(). Secrets live here, never in a workflow's input.
    telegram_api_id: int = 0
    telegram_api_hash: str = ""
    telegram_session: str = ""
    # The Telegram stand-in (emulators/telegram.py). Unset: the local one, unless a session is configured;
    # set empty: real Telegram.
    telegram_emulator_url: str | None = None
    # How often pyrogram itself retries a request whose connection failed, before the activity's own retry.
    telegram_request_retries: int = 3
    # Files one client downloads at once. pyrogram's own default is 1, which caps a migration at 1 / (a file's
    # round trip) files a second: 10/s at 100 ms, less than MAX's limit takes when albums come in a row.
    telegram_concurrent_downloads: int = 4
    # Telegram Desktop exports are read only from under this directory (empty: shared_dir/exports), so a
    # channel's export path cannot point the workers at any file they can read.
    telegram_exports_dir: str = ""

    # Crossposting: posts whose media is downloaded and uploaded ahead of the one being sent, so that the sender
    # finds an album ready instead of waiting while MAX's rate limit has room (`python -m bench crossposting`).
    # The older name LONGRUN_MIGRATION_PREPARE_AHEAD is still read, so a deployment's .env keeps working.
    crossposting_prepare_ahead: int = Field(
        default=32,
        validation_alias=AliasChoices(
            "crossposting_prepare_ahead", "LONGRUN_CROSSPOSTING_PREPARE_AHEAD", "LONGRUN_MIGRATION_PREPARE_AHEAD"
        ),
    )

    # 1C's standard OData interface: the infobase's publication URL (`/odata/standard.odata/` is appended).
    # The defaults are those of the 1C emulator that `make up` runs. The password is read here and only here:
    # workflows never carry it, so it never lands in workflow history.
    onec_url: str = "http://127.0.0.1:8105"
    onec_user: str = "longrun"
    onec_password: SecretStr = SecretStr("longrun")
    onec_timeout_seconds: float = 60.0
    # The longest period one bank sync may ask for; a longer one is a caller's mistake (422).
    onec_max_period_days: int = 366
    # What auto-classification may call a transaction (rules may name others). JSON list in the environment.
    onec_categories: list[str] = Field(
        default_factory=lambda: [
            "Выручка",
            "Поставщики",
            "Зарплата",
            "Налоги и взносы",
            "Аренда",
            "Банковские комиссии",
            "Кредиты и займы",
            "Перевод между счетами",
            "Прочее",
        ]
    )
    # Schedules (Temporal Schedules, pausable from the API and the Web UI): the catalog nightly, and every
    # hour the bank documents of the last few days (1C documents are often entered or fixed after the fact).
    onec_contractors_cron: str = "0 3 * * *"
    onec_bank_every_minutes: float = 60.0
    onec_bank_days_back: int = 3
    # MAX Bot API, the channel migration's destination: by default the emulator `make up` runs.
    max_api_url: str = "http://127.0.0.1:8104"
    # MAX allows 30 requests/s per bot token, across every process (db/rate_limits.py).
    max_rate_per_second: float = 30.0
    # MAX takes at most 2 messages/s into one chat or channel (dev.max.ru, POST /messages).
    max_chat_messages_per_second: float = 2.0
    # Share of those rates left unused, so requests arriving late never put 31 in one second at MAX
    # (docs/rate-limit.md).
    max_rate_headroom: float = 0.04
    # A rate-limit slot woken later than this is given up for a new one, so a stalled caller does not bunch up.
    max_rate_late_slot_seconds: float = 0.015
    max_timeout_seconds: float = 30.0
    max_upload_timeout_seconds: float = 600.0
    # When to try again a send whose attachment MAX is still processing (`attachment.not.ready`).
    max_not_ready_retry_seconds: float = 1.0

    # Telegram Bot API, the task tracker's bot (its webhook, and avatars through getUserProfilePhotos/getFile):
    # by default the emulator `make up` runs; the real one is https://api.telegram.org. The token is read here and
    # only here, so it never lands in workflow history.
    telegram_bot_api_url: str = "http://127.0.0.1:8106"
    telegram_bot_token: SecretStr = SecretStr("1000000001:longrun-emulator-bot-token")
    telegram_bot_timeout_seconds: float = 30.0

    # Telegram links and job notices (docs/jobs.md). The bot's @username for the link a user opens
    # (https://t.me/<bot>?start=<code>); empty: asked of the Bot API (getMe) once per API process.
    telegram_bot_username: str = ""
    # How long a link code may wait to be sent to the bot as `/start <code>`.
    telegram_link_code_minutes: float = Field(default=15.0, gt=0)
    # A linked user's jobs tell their progress at most every this many items or seconds (whichever comes first), once
    # they have run `min_seconds` (a job done in seconds tells nothing); and their end.
    job_notice_every_items: int = Field(default=100, ge=1)
    job_notice_every_seconds: float = Field(default=300.0, gt=0)
    job_notice_min_seconds: float = Field(default=30.0, ge=0)
    # How often each API process looks at linked users' jobs, and sends what the outbox holds.
    job_notice_poll_seconds: float = Field(default=5.0, gt=0)
    # One sendMessage may take this long; a notice not sent within max_age (the Bot API down) is dropped.
    job_notice_send_timeout_seconds: float = Field(default=10.0, gt=0)
    job_notice_max_age_seconds: float = Field(default=3600.0, gt=0)
    # The language of a linked account whose Telegram language is none of en, ru, uk.
    job_notice_language: Literal["en", "ru", "uk"] = "ru"

    # Outside content (clients/outside_http.py). Outside calls connect only to public addresses; these hosts
    # (`host` or `host:port`, separated by commas or spaces) are reachable from every outside call however they
    # resolve: the feeds and LLM emulators `make up` and the tests run are listed here by devstack. Each configured
    # service (onec_url, max_api_url, telegram_bot_api_url, openai_base_url) is reachable from its own client
    # without being listed; feed URLs and provider rows, which users type, reach only public hosts and these.
    outside_hosts_allowed: str = ""
    # The most one answer may take, on the wire and unpacked; more is a permanent error for that item. A feed is
    # text (the largest real ones run to a few MB); an avatar a small photo; an API answer JSON (1C's pages, MAX's
    # message lists, LLM embeddings as JSON); a media file what Telegram allows (2 GB, 4 GB with Premium).
    feed_max_bytes: int = Field(default=16 * 2**20, ge=1024)
    avatar_max_bytes: int = Field(default=10 * 2**20, ge=1024)
    answer_max_bytes: int = Field(default=64 * 2**20, ge=1024)
    media_max_bytes: int = Field(default=4 * 2**30, ge=1024)
    # Redirects one outside request follows, each hop checked as the first was.
    outside_max_redirects: int = Field(default=5, ge=0, le=20)
    # The environment variables an LLM provider row may name as `api_key_env`: these names, and any name that
    # starts with LONGRUN_LLM_KEY_. Any other (LONGRUN_DATABASE_URL...) would go as a Bearer token to the row's host.
    llm_key_envs_allowed: str = "OPENAI_API_KEY,LONGRUN_OPENAI_API_KEY"

    api_port: int = 8000
    # OpenTelemetry traces (runtime/tracing.py), to an OTLP/HTTP endpoint such as http://collector:4318/v1/traces;
    # empty: no tracing. The service name tells the API's spans from the worker's.
    otel_endpoint: str = ""
    otel_service_name: str = "longrun"
    # The worker's Prometheus /metrics (runtime/metrics.py); 0: none. The API serves GET /metrics on its own port.
    worker_metrics_port: int = 0
    # Empty means: a secret generated once and kept in data_dir, so tokens survive restarts (see generate_secrets).
    jwt_secret: str = ""
    # AES-256-GCM keys for workflow and activity payloads, `id:base64key,...` (runtime/payload_codec.py): the first
    # encrypts, every one listed decrypts, so a new key goes first and old ones stay until their histories are gone.
    # Empty: one generated once and kept in data_dir/payload_keys (see generate_secrets).
    payload_keys: SecretStr = SecretStr("")
    # Whether a missing JWT secret or payload key may be generated and kept in data_dir. That is right only where
    # every process shares data_dir: the embedded stack (`make up`, the tests). Elsewhere (compose, several hosts)
    # each container would generate its own and encrypt under the same key id with a different key, so a missing
    # one is a startup error. Unset: allowed only when the database is the embedded one (no URL, or a unix socket).
    generate_secrets: bool | None = None
    # The Temporal Web UI decodes payloads at /api/v1/codec/web-ui/<this>/decode (`make up` passes both sides the
    # one it keeps in data_dir); empty: the Web UI's path is off.
    codec_ui_key: SecretStr = SecretStr("")
    # How long an access token and a sign-in's refresh token live (fractions allowed: the tests shorten a week to
    # seconds). WebBuddy's own worker client takes its access token to last 24 h and refreshes it only then, so
    # fewer hours than 24 break it (docs/webbuddy.md).
    access_token_hours: float = Field(default=24, gt=0)
    refresh_token_days: float = Field(default=7, gt=0)
    # A refresh token that was just replaced still refreshes for this long (two tabs refreshing at once); used
    # later, it is taken for a stolen copy and its session ends.
    refresh_reuse_grace_seconds: float = 30.0
    # Failed sign-ins within the window, per username and per address, before a login answers 429 (Retry-After).
    login_failure_window_seconds: int = 900
    login_failures_per_username: int = 10
    login_failures_per_address: int = 100
    admin_username: str = "admin"
    admin_password: str = ""

    # WebBuddy: the reconcile schedule replaces the 30-second polling loop its queries waited on before Longrun.
    webbuddy_reconcile_seconds: float = 30.0
    # A queued query this old with no workflow gets one from reconcile.
    webbuddy_grace_seconds: float = 30.0
    # An external worker's claim with no log or PATCH for this long goes back to the queue.
    webbuddy_stale_claim_seconds: float = 600.0
    # The WebBuddy site pushes each new query to /api/process-query without a token; such a push only wakes the
    # queue and is limited per client address: this many at once, then one per `1 / rate` seconds (429 beyond).
    webbuddy_tokenless_pushes_per_second: float = Field(default=1.0, gt=0)
    webbuddy_tokenless_push_burst: int = Field(default=20, ge=1)

    # Task tracker. Telegram sends the webhook's secret in `X-Telegram-Bot-Api-Secret-Token` (setWebhook's
    # `secret_token`); while it is empty the webhook refuses every update.
    telegram_webhook_secret: SecretStr = SecretStr("")
    # Where Telegram delivers the bot's updates (this API's /webhook/telegram as Telegram reaches it: a public
    # HTTPS URL for the real Bot API). Set, bootstrap registers it with setWebhook and the secret above.
    telegram_webhook_url: str = ""
    # Knowledge extraction starts in a chat once this many messages without a topic have gathered within the
    # window, and takes up to `batch` of them at a time.
    tracker_extraction_threshold: int = 10
    tracker_extraction_window_hours: float = 24.0
    tracker_extraction_batch: int = 50
    # Extractions one worker runs at once, across chats. Each is an LLM call and a write: unbounded, a busy hour's
    # chats all call the provider together and starve the webhook's drainer of CPU; bounded, the chats that wait
    # gather more messages and are extracted in fuller, cheaper batches.
    tracker_extraction_concurrency: int = Field(default=2, ge=1)
    # With less than a batch waiting, an extraction first lets this long's messages gather (see
    # KnowledgeActivities._gather): fuller batches, fewer of them.
    tracker_extraction_gather_seconds: float = Field(default=2.0, ge=0)
    # Updates the inbox drainer takes in one transaction.
    tracker_inbox_batch: int = 200
    # The inbox sweep: how often the schedule makes sure the drainer runs and no chat's extraction trigger was lost.
    tracker_reconcile_seconds: float = 30.0
    # The score_unscored_messages sweep's schedule and batch.
    tracker_scoring_sweep_minutes: float = 10.0
    tracker_scoring_batch: int = 500
    # The embedding sweep: messages and atoms still without a vector get one this often (0: no sweep; embeddings
    # are then made only by jobs a person starts).
    tracker_embed_sweep_seconds: float = 60.0

    # Analysis runs' bounds: the longest window a caller may ask for, the most batches a run may make (its window's
    # messages / batch_size; a wider ask is a 422 naming batch_size), and the batches one workflow run takes before
    # it continues as new (its history stays short whatever the window).
    analysis_max_window_days: float = Field(default=400.0, gt=0)
    analysis_max_batches: int = Field(default=5000, ge=1)
    analysis_batches_per_run: int = Field(default=100, ge=1)
    # The most of a window's messages one step reads to cut a batch (texts and all, in a local activity with a 30 s
    # timeout): a window the prefilter mostly drops takes several steps per batch, never one step of unbounded size.
    analysis_rows_per_step: int = Field(default=5000, ge=1)

    # --- The API's edge (issue 18): what a caller reaches before it is known, and how long a token's word holds.
    # Request bodies are bounded as they stream in (api/body_limit.py), before FastAPI reads them: 413 over the
    # bound. Telegram's webhook takes updates of a few KB; the codec's paths carry Temporal payloads (up to 2 MB
    # each, base64) for the Web UI.
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    webhook_max_body_bytes: int = Field(default=256 * 1024, ge=0)
    codec_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    # JSON bodies nested deeper are a 422 before anything parses them (every parser in the way recurses).
    max_json_depth: int = Field(default=64, ge=1)
    # Password verifications (argon2, ~120 ms of CPU each) that may wait for the hashing threads; a sign-in beyond
    # them is a 503 with Retry-After at once, so a burst of guesses cannot queue every real sign-in behind it.
    login_verify_queue: int = Field(default=16, ge=1)
    # Proxies whose X-Forwarded-For is believed (uvicorn's --forwarded-allow-ips: addresses, networks or "*"),
    # comma-separated. Empty: none, and the client address is the connection's own, so a forged header cannot
    # pick which address a failed sign-in counts against. Behind a proxy set it to the proxy's address.
    forwarded_allow_ips: str = ""
    # An access token's role and the user's active state are checked against the database on each request,
    # remembered this long per user, so a deactivated or demoted user's token stops working within it.
    user_state_cache_seconds: float = Field(default=5.0, ge=0)
    # WebSockets: a user's open sockets (job, tasks and event streams together) in this API process, beyond which
    # a new one is closed 1008; how long a socket may take to send its token as its first message; and how many
    # pushes wait for a client that does not read before its socket is closed 1013.
    websockets_per_user: int = Field(default=8, ge=1)
    websocket_auth_seconds: float = Field(default=5.0, gt=0)
    websocket_send_queue: int = Field(default=256, ge=1)
    # Sockets accepted but not yet signed in (waiting for their token), in this API process: they are nobody's, so
    # no per-user cap holds them; beyond this a new one is closed 1013 at once (try again) instead of held open.
    websockets_pending_auth: int = Field(default=64, ge=1)
    # The largest message a client may send on a socket (uvicorn's ws_max_size; 1009 beyond). Clients send only a
    # token (a few hundred bytes); uvicorn's default, 16 MiB, would be read and parsed before anyone is known.
    websocket_max_message_bytes: int = Field(default=64 * 1024, ge=1024)

    # --- Files every replica reads (issue 21)
    # Where the files that the API and every worker must see alike live: Desktop exports (checked by the API when a
    # channel is saved, read by whichever worker runs the migration) and the avatar cache (written by a worker, served
    # by the API). Empty: data_dir, which every process of `make up` and the tests shares. With processes on several
    # hosts: one shared volume, mounted at the same path in the API and every worker (docs/production.md).
    shared_dir: str = ""
    # The largest result.json an export may have: it is parsed whole into a worker's memory (a few times its size).
    # Beyond it the export is refused when a channel is saved and when a worker reads it.
    telegram_export_max_bytes: int = Field(default=2**30, ge=1024)
    # --- Compose and beyond (issue 21): how a deployment hands Longrun its secrets and splits its workers.
    # A directory of files named like the variables (LONGRUN_JWT_SECRET, LONGRUN_PAYLOAD_KEYS...), each holding one
    # value: compose's or Swarm's `secrets:` (/run/secrets), a Kubernetes Secret mounted as a volume. A variable set
    # in the environment wins over its file. Empty: none. Read from the environment only (it says where the rest is).
    secrets_dir: str = ""
    # Log lines as text (`make up`, a terminal) or as one JSON object each (a log shipper), job and run as keys.
    log_format: Literal["text", "json"] = "text"
    # --- Reach any Temporal (issue 21)
    # Whether Temporal's environment configuration (TEMPORAL_* variables, the TOML profile file) is read. The embedded
    # stack (`make up`, the tests) turns it off for its processes: a developer's Temporal Cloud profile or
    # TEMPORAL_API_KEY must not send them to the cloud, or TLS to the local dev server.
    temporal_envconfig: bool = True
    _temporal: TemporalTarget | None = PrivateAttr(default=None)
    # --- Workers per kind and sizing (issue 21; docs/production.md)
    # The kinds of work this worker serves (runtime/queues.py: interactive, bulk, llm), comma-separated, or empty
    # for all of them: `make up` runs one worker serving all, compose a service per kind. `--queues` overrides it.
    worker_queues: str = ""
    # Slots per queue kind, passed to the SDK's Worker (its own defaults are 100 of each). A bulk or LLM worker
    # holds its outside service to what it can take; the interactive one keeps room for bursts of the webhook chain.
    worker_interactive_activities: int = Field(default=100, ge=1)
    worker_interactive_workflow_tasks: int = Field(default=100, ge=2)
    worker_interactive_local_activities: int = Field(default=100, ge=1)
    worker_bulk_activities: int = Field(default=100, ge=1)
    worker_bulk_workflow_tasks: int = Field(default=100, ge=2)
    worker_bulk_local_activities: int = Field(default=100, ge=1)
    worker_llm_activities: int = Field(default=100, ge=1)
    worker_llm_workflow_tasks: int = Field(default=100, ge=2)
    worker_llm_local_activities: int = Field(default=100, ge=1)
    # Instead of fixed slots: the SDK's resource-based tuner, handing out slots while the host's memory and CPU stay
    # under these shares (0-1). Both set or neither; 0 keeps the fixed slots above.
    worker_tuner_target_memory: float = Field(default=0.0, ge=0, le=1)
    worker_tuner_target_cpu: float = Field(default=0.0, ge=0, le=1)
    # On SIGTERM a worker stops polling and gives its running activities this long to finish before it cancels them
    # (they then retry elsewhere from their last heartbeat). Long enough for a page of 1C or a crossposting page's
    # sends; an upload can take max_upload_timeout_seconds (600 s), too long to hold a deploy, and resumes anyway.
    # The container's stop grace period must exceed it (docs/production.md).
    worker_shutdown_seconds: float = Field(default=60.0, ge=0)
    # Database connections per process: a worker's activities (all its queues share one pool), the API's requests
    # (the webhook takes one per commit group; the rest serve people and sockets). Through PgBouncer these are its
    # client connections.
    worker_database_pool_size: int = Field(default=20, ge=1)
    api_database_pool_size: int = Field(default=50, ge=1)
    # False behind PgBouncer in transaction pooling: asyncpg's and SQLAlchemy's prepared-statement caches are then
    # off (a statement prepared on one server connection is unknown on the next one the pooler hands out).
    database_statement_cache: bool = True
    # The API's LISTEN connection (api/event_listener.py) must reach Postgres itself: a transaction pooler drops a
    # session's LISTEN. Empty: the database URL.
    direct_database_url: str = ""

    @field_validator("worker_queues")
    @classmethod
    def _known_kinds(cls, value: str) -> str:
        parse_kinds(value)  # a misspelt kind stops the worker at start, named, instead of leaving a queue unserved
        return value

    @model_validator(mode="after")
    def _tuner_targets_together(self) -> Self:
        if (self.worker_tuner_target_memory > 0) != (self.worker_tuner_target_cpu > 0):
            both = "LONGRUN_WORKER_TUNER_TARGET_MEMORY and LONGRUN_WORKER_TUNER_TARGET_CPU"
            raise ValueError(f"{both} go together: set both or neither")
        return self

    @property
    def listen_database_url(self) -> str:
        return self.direct_database_url or self.effective_database_url

    # --- tracker webhook group commit (issue 21)
    # The webhook answers Telegram once an update is committed. Updates arriving within this many milliseconds of
    # the first of them share one transaction, so one WAL flush answers them all (api/inbox_group.py); the first
    # waits this long at most before its commit starts. 0: no wait, only updates that arrive while a commit is under
    # way are grouped. Measured with `python -m bench tracker` (docs/tracker.md).
    tracker_webhook_group_ms: float = Field(default=5.0, ge=0, le=10_000)

    # Recovery tuning (see docs/recovery.md): how fast a dead worker's work moves on.
    sticky_queue_timeout_seconds: float = 1.0
    # A worker killed mid workflow task is noticed after this long; tasks here take 5-30 ms.
    workflow_task_timeout_seconds: float = 3.0

    @model_validator(mode="after")
    def _pick_telegram(self) -> Self:
        # Mirrors the LLM: with no credentials of its own, Longrun talks to the local stand-in.
        if self.telegram_emulator_url is None:
            self.telegram_emulator_url = "" if self.telegram_session else "http://127.0.0.1:8103"
        return self

    @model_validator(mode="after")
    def _reach_temporal(self) -> Self:
        # Resolved once here, so the worker, the API, schedules, the codec, the dashboard's link and the health
        # check all name the same address and namespace.
        self._temporal = resolve(
            self.temporal_address if "temporal_address" in self.model_fields_set else None,
            self.temporal_namespace if "temporal_namespace" in self.model_fields_set else None,
            use_envconfig=self.temporal_envconfig,
        )
        self.temporal_address, self.temporal_namespace = self._temporal.address, self._temporal.namespace
        return self

    @property
    def temporal(self) -> TemporalTarget:
        """Where Temporal is and how to reach it (TLS, API key): what `runtime.temporal.connect` uses."""
        assert self._temporal is not None  # set by _reach_temporal
        # The fields stay the truth for where: a copy with another namespace (model_copy) connects to that one.
        if (self._temporal.address, self._temporal.namespace) != (self.temporal_address, self.temporal_namespace):
            return replace(self._temporal, address=self.temporal_address, namespace=self.temporal_namespace)
        return self._temporal

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql+asyncpg://postgres@/longrun?host={self.pg_dir}"

    @property
    def may_generate_secrets(self) -> bool:
        if self.generate_secrets is not None:
            return self.generate_secrets
        if not self.database_url:
            return True
        url = urlsplit(self.database_url)
        socket_dir = parse_qs(url.query).get("host", [""])[0]
        return not url.hostname and socket_dir.startswith("/")

    def kept_secret(self, name: str, variable: str, make: Callable[[], str]) -> str:
        """The secret kept in data_dir/`name`, generated by `make` the first time; refused (MissingSecretError)
        where a generated one would differ from process to process (`may_generate_secrets`)."""
        if not self.may_generate_secrets:
            raise MissingSecretError(
                f"{variable} is not set. Outside the embedded stack every API and worker must share one (see "
                f".env.example); set it, or set LONGRUN_GENERATE_SECRETS=true if every process shares {self.data_dir}."
            )
        return write_secret_once(self.data_dir / name, make)

    @property
    def shared_root(self) -> Path:
        """shared_dir, else data_dir: where files every replica reads live."""
        return Path(self.shared_dir) if self.shared_dir else self.data_dir

    @property
    def exports_dir(self) -> Path:
        return Path(self.telegram_exports_dir) if self.telegram_exports_dir else self.shared_root / "exports"

    @property
    def media_dir(self) -> Path:
        """Where media waits between its download from Telegram and its upload to MAX (deleted after). Per worker,
        never shared: a file lives there only within one publish step of the worker that downloaded it, and a local
        disk is faster than a shared volume for gigabytes that are written once and read once."""
        return self.data_dir / "media"

    @property
    def avatars_dir(self) -> Path:
        """Where workers cache the avatars of Telegram users (the tracker's user profiles), for the API to serve."""
        return self.shared_root / "avatars"

    @property
    def llm_api_key(self) -> str:
        return self.openai_api_key or "emulator"

    @property
    def llm_base_url(self) -> str | None:
        if self.openai_base_url:
            return self.openai_base_url
        return None if self.openai_api_key else "http://127.0.0.1:8101/v1"


class MissingSecretError(RuntimeError):
    """A secret every process must share is not configured, and may not be generated here."""


def write_secret_once(path: Path, make: Callable[[], str]) -> str:
    """What `path` holds, else `make()` written there: owner-only from its first byte (a draft opened 0600, then
    linked into place, which fails if another process got there first: theirs is the secret, and nobody ever reads
    a half-written one)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(make())
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
