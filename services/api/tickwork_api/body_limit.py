"""`BodyLimitMiddleware`: no request body over `TICKWORK_API_MAX_BODY_BYTES` is read.

Pure ASGI, in front of routing, parsing and authentication, so an oversize body costs
the api at most the limit in memory whoever sends it:
- a `Content-Length` over the limit is answered 413 at once, the body never read;
- a body without a length (chunked) is read here first, counted as it streams, up to
  the limit: past it 413, else it is handed on as received. Deciding before the app runs
  keeps the answer the same (413) whether or not the request carries a valid key;
- a body longer than its `Content-Length` is cut off at the limit too.
The 413 is the api's usual error shape, `{"detail": ...}`.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickwork_api.asgi import HttpMiddleware


class BodyTooLarge(Exception):
    """Raised to the app by `receive` when a body passes the limit mid-stream."""


class BodyLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        super().__init__(app)
        self.max_body_bytes = max_body_bytes

    def _refuse(self) -> JSONResponse:
        return JSONResponse(
            {"detail": f"Request body too large: at most {self.max_body_bytes} bytes"}, 413
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        length, chunked = _declared_length(scope)
        if length is not None and length > self.max_body_bytes:
            await self._refuse()(scope, receive, send)
            return
        if length is None and chunked:
            messages = await self._read_bounded(receive)
            if messages is None:
                await self._refuse()(scope, receive, send)
                return
            await self.app(scope, _replay(messages, receive), send)
            return
        await self._guarded(scope, receive, send)

    async def _read_bounded(self, receive: Receive) -> list[Message] | None:
        """The body's messages, or None past the limit (the rest left unread)."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away; the app sees the disconnect
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, counting: a body that outgrows its declared length is refused."""
        size = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal size, exceeded
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to the cut-off body; ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse()(scope, receive, send)


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """The request's `Content-Length` (None when absent or unreadable) and whether it is
    sent chunked (`Transfer-Encoding`)."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` giving the messages already read, then whatever comes next."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
