"""How `tickwork_client` reads error answers: the class per status, message and fields."""

from __future__ import annotations

import httpx
import pytest
from tickwork_client import (
    ApiError,
    Invalid,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TickworkClientError,
)
from tickwork_client.errors import error_for


def _response(status: int, **kwargs: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://api/x"), **kwargs)  # type: ignore[arg-type]


def test_429_is_rate_limited_with_its_retry_after() -> None:
    error = error_for(
        _response(429, json={"detail": "Too many requests"}, headers={"Retry-After": "2"})
    )
    assert isinstance(error, RateLimited)
    assert (str(error), error.retry_after) == ("Too many requests", 2.0)
    odd = error_for(_response(429, json={"detail": "slow"}, headers={"Retry-After": "soon"}))
    assert isinstance(odd, RateLimited)
    assert odd.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_a_server_error(status: int) -> None:
    error = error_for(_response(status, json={"detail": "Service unavailable"}))
    assert isinstance(error, ServerError)
    assert error.status_code == status
    assert str(error) == "Service unavailable"


def test_a_body_that_is_not_the_api_s_still_gives_a_message() -> None:
    error = error_for(_response(502, text="<html>bad gateway</html>"))
    assert isinstance(error, ServerError)
    assert str(error) == "HTTP 502 Bad Gateway"
    assert str(error_for(_response(404, json=["odd"]))) == "HTTP 404 Not Found"
    teapot = error_for(_response(418, json={"detail": "short and stout"}))
    assert type(teapot) is ApiError
    assert isinstance(teapot, TickworkClientError)
    assert isinstance(error_for(_response(413, json={"detail": "too big"})), PayloadTooLarge)


def test_422_carries_every_field_error() -> None:
    body = {
        "detail": "Validation failed",
        "errors": [
            {"field": "schedule.expression", "message": "bad minute"},
            {"field": "args.url", "message": "required"},
            "not an object",
        ],
    }
    error = error_for(_response(422, json=body))
    assert isinstance(error, Invalid)
    assert [(e.field, e.message) for e in error.errors] == [
        ("schedule.expression", "bad minute"),
        ("args.url", "required"),
    ]
    assert str(error) == "Validation failed: schedule.expression: bad minute; args.url: required"
