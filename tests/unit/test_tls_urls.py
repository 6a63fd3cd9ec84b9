"""The TLS connection URLs deploy/README.md documents are read by the drivers as it says
(no connection is made: only how each driver parses its URL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiormq.connection import Connection
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]
CA = "/etc/tickwork/tls/ca.pem"


def documented(scheme: str) -> list[str]:
    text = (ROOT / "deploy" / "README.md").read_text()
    text += (ROOT / "deploy" / "k8s" / "secrets.env.example").read_text()
    text += (ROOT / "compose.yaml").read_text()
    return re.findall(rf"{re.escape(scheme)}://[^\s`]+", text)


async def test_mariadb_ssl_options_become_asyncmy_ssl_arguments() -> None:
    urls = [u for u in documented("mysql+asyncmy") if "ssl_ca=" in u]
    assert len(urls) >= 3  # README, secrets.env.example, compose.yaml
    for url in urls:
        engine = create_async_engine(url.replace("…", "secret"))
        try:
            _, kwargs = engine.dialect.create_connect_args(engine.url)
        finally:
            await engine.dispose()
        assert kwargs["ssl"] == {"ca": CA}, url
    engine = create_async_engine(
        f"mysql+asyncmy://u:p@db/tickwork?ssl_ca={CA}&ssl_cert=/c.pem&ssl_key=/k.pem"
        "&ssl_check_hostname=false"
    )
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    await engine.dispose()
    assert kwargs["ssl"] == {"ca": CA, "cert": "/c.pem", "key": "/k.pem", "check_hostname": False}


@pytest.mark.parametrize("url", documented("amqps"))
async def test_amqps_urls_use_tls_and_verify_with_the_ca(url: str) -> None:
    # aiormq looks up the running event loop when a connection object is made.
    connection = Connection(url.replace("…", "secret"))
    assert connection.url.scheme == "amqps"
    assert connection.url.port == 5671
    assert connection.ssl_certs.cafile == CA
    assert connection.ssl_certs.verify is True


def test_every_example_shows_amqps() -> None:
    assert len(documented("amqps")) >= 3
