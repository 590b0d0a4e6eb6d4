"""`WS /api/v1/ws/events`: the tracker's live events (db/events.py), as workers publish them.

Authenticated and bounded like the job sockets (the first message, or `?token=`; api/job_sockets.py). A user
gets the events of their own jobs and the tracker's shared ones (no owner); admins get everything.
`?job_id=` narrows the stream to one job.
The first message is ``{"type": "stream.ready", "listening": bool}``; ``listening: false`` means this API
process has lost Postgres and is reconnecting, and ``{"type": "stream.resumed"}`` follows when it is back.
A client too slow to take its events is closed with 1013 rather than sent a stream with holes in it.
"""

from fastapi import APIRouter, WebSocket

from api.event_hub import OVERFLOW, EventHub
from api.event_listener import EventListener
from api.job_sockets import signed_in, until_gone

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.websocket("/ws/events")
async def stream_events(ws: WebSocket, job_id: str | None = None) -> None:
    async with signed_in(ws) as who:
        if who is None:
            return
        hub: EventHub = ws.app.state.events
        listener: EventListener = ws.app.state.event_listener
        subscriber = hub.subscribe(who, job_id)

        async def send() -> None:
            await ws.send_json({"type": "stream.ready", "listening": listener.listening})
            while True:
                event = await subscriber.queue.get()
                if event is OVERFLOW:
                    await ws.close(code=1013, reason="too slow to take the events; reconnect")
                    return
                await ws.send_text(event.text)

        try:
            await until_gone(ws, send, subscriber.overflow)
        finally:
            hub.unsubscribe(subscriber)
