"""Waiting out a namespace's retention: whether Temporal still has a job."""

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def gone_from_temporal(client: Client, job_id: str) -> bool:
    try:
        await client.get_workflow_handle(job_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False
