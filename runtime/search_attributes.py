"""The search attributes every job carries (JobType, JobOwner, JobStatus) must exist in the namespace before a job
starts: checked at worker start, and registered there on a self-hosted cluster through the operator service.

Temporal Cloud creates them only through its own control plane (`tcld`, the Cloud UI, Terraform), so there nothing
is tried: the worker stops with the exact `tcld` command to run.
"""

import logging
from collections.abc import Iterable

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from runtime.temporal_config import TemporalTarget

Kind = IndexedValueType.ValueType
# How Cloud (and a cluster whose authorizer keeps the operator service to admins) answers an operator call.
REFUSED = {RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.UNAUTHENTICATED}

log = logging.getLogger("longrun.temporal")


class SearchAttributesMissing(RuntimeError):
    """The namespace lacks search attributes jobs need, and this process may not (or must not) create them."""


def required(keys: Iterable[SearchAttributeKey]) -> dict[str, Kind]:
    """Each key's name and type, as the operator service lists them (the keys are the job protocol's:
    workflows/base.py JOB_ATTRIBUTES, handed in by the worker, since runtime/ reads no workflow)."""
    return {key.name: Kind(key.indexed_value_type) for key in keys}


def type_name(value: Kind) -> str:
    """`Keyword` for INDEXED_VALUE_TYPE_KEYWORD: the name tcld and the temporal CLI take."""
    return "".join(part.title() for part in IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").split("_"))


def tcld_command(namespace: str, attributes: dict[str, Kind]) -> str:
    flags = " ".join(f'--search-attribute "{name}={type_name(kind)}"' for name, kind in attributes.items())
    return f"tcld namespace search-attributes add --namespace {namespace} {flags}"


def operator_commands(namespace: str, attributes: dict[str, Kind]) -> str:
    return "; ".join(
        f"temporal operator search-attribute create --namespace {namespace} --name {name} --type {type_name(kind)}"
        for name, kind in attributes.items()
    )


async def ensure_search_attributes(client: Client, target: TemporalTarget, attributes: dict[str, Kind]) -> list[str]:
    """The names registered now (none when all were there). SearchAttributesMissing when some are missing and cannot
    be registered from here; an RPCError (the namespace not there yet, Temporal away) is the caller's to retry."""
    namespace = target.namespace
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except RPCError as exc:
        if exc.status not in REFUSED:
            raise
        # Not allowed to look: starting a job will tell. Say what to run in case they are missing.
        log.warning(
            "cannot list the search attributes of namespace %s (%s); if jobs fail to start, run: %s",
            namespace,
            exc.status.name,
            tcld_command(namespace, attributes) if target.cloud else operator_commands(namespace, attributes),
        )
        return []
    existing = dict(listed.custom_attributes)
    wrong = {name: existing[name] for name, kind in attributes.items() if name in existing and existing[name] != kind}
    if wrong:
        raise SearchAttributesMissing(
            f"namespace {namespace} has "
            + ", ".join(f"{name} as {type_name(kind)}" for name, kind in wrong.items())
            + f"; jobs need {', '.join(f'{name} as {type_name(attributes[name])}' for name in wrong)}"
        )
    missing = {name: kind for name, kind in attributes.items() if name not in existing}
    if not missing:
        return []
    if target.cloud:
        raise SearchAttributesMissing(cloud_message(namespace, missing))
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:  # another worker registered them first
            return []
        if exc.status in REFUSED:
            raise SearchAttributesMissing(
                f"{cloud_message(namespace, missing)} (the operator service refused: {exc.status.name}). On a "
                f"self-hosted cluster, as an admin: {operator_commands(namespace, missing)}"
            ) from exc
        raise
    log.info("registered search attributes %s in namespace %s", ", ".join(missing), namespace)
    return list(missing)


def cloud_message(namespace: str, missing: dict[str, Kind]) -> str:
    return (
        f"namespace {namespace} lacks the search attributes {', '.join(missing)}, which Temporal Cloud creates only "
        f"through its control plane; run once: {tcld_command(namespace, missing)}"
    )
