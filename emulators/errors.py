"""The OpenAI error envelope, shared because injected faults answer in the same shape as the OpenAI emulator.

Clients branch on status codes and on ``error.type``/``error.code``, so the shape must match the real API.
"""

from starlette.responses import JSONResponse

_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_payload(status: int, message: str, *, param: str | None = None) -> dict:
    """Build ``{"error": {...}}`` with the type/code the real API uses for ``status``."""
    kind, code = _TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def openai_error(status: int, message: str, *, param: str | None = None) -> JSONResponse:
    return JSONResponse(error_payload(status, message, param=param), status_code=status)
