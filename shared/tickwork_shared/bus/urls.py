"""`TICKWORK_AMQP_URL` as a list of broker URLs: one per RabbitMQ cluster node, comma
separated (`amqp://u:p@rabbit-1:5672/,amqp://u:p@rabbit-2:5672/`).

A client talks to one node at a time; naming every node lets it reconnect to a live one
when its node dies (`RabbitBus` tries the next URL on each connection attempt). Pure
parsing, no I/O. A comma inside a password is written `%2C`, as any reserved character
in a URL's user info.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("amqp", "amqps")


def redacted(url: str) -> str:
    """`url` with its password replaced by `***`, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def split_amqp_urls(value: str, *, setting: str = "TICKWORK_AMQP_URL") -> list[str]:
    """The broker URLs of `value`, in order; `ValueError` naming `setting` if one is not
    an `amqp://` or `amqps://` URL with a host (the message never shows a password)."""
    urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        raise ValueError(f"{setting} names no broker: give one amqp:// URL per node")
    for url in urls:
        parts = urlsplit(url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if parts.scheme not in SCHEMES or not parts.hostname or not port_ok:
            raise ValueError(
                f"{setting}: {redacted(url)!r} is not an amqp:// or amqps:// URL with a "
                "host (and a port from 1 to 65535, if any); separate several with commas"
            )
    return urls
