"""Names with characters a reader cannot see are refused, in every name field (422
naming the field); visible Unicode stays welcome."""

from __future__ import annotations

import pytest
from tickwork_api.errors import ValidationFailed
from tickwork_api.keys import create_api_key
from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api, job_body

V1 = "/api/v1"
HIDDEN = {
    "NUL": "bad\x00name",
    "ANSI escape": "bad\x1b[31mname",
    "newline": "bad\nname",
    "zero-width space": "bad\u200bname",
    "right-to-left override": "bad\u202ename",
    "byte order mark": "\ufeffbadname",
}


def _fields(response_json: dict[str, object]) -> list[object]:
    errors = response_json.get("errors")
    assert isinstance(errors, list)
    return [error["field"] for error in errors]


@pytest.mark.parametrize("name", list(HIDDEN.values()), ids=list(HIDDEN))
async def test_job_names_refuse_hidden_characters(api: Api, name: str) -> None:
    created = await api.call("POST", f"{V1}/jobs", json=job_body(name=name))
    assert created.status_code == 422, created.text
    assert _fields(created.json()) == ["name"]
    assert "control or format" in created.text
    job = await api.create_job(name="visible")
    patched = await api.call("PATCH", f"{V1}/jobs/{job['id']}", json={"name": name})
    assert patched.status_code == 422, patched.text
    assert _fields(patched.json()) == ["name"]


@pytest.mark.parametrize("name", list(HIDDEN.values()), ids=list(HIDDEN))
async def test_job_type_names_refuse_hidden_characters(api: Api, name: str) -> None:
    created = await api.call("POST", f"{V1}/job-types", json={"name": name})
    assert created.status_code == 422, created.text
    assert _fields(created.json()) == ["name"]
    job_type = (await api.call("POST", f"{V1}/job-types", json={"name": "fine"})).json()
    patched = await api.call("PATCH", f"{V1}/job-types/{job_type['id']}", json={"name": name})
    assert patched.status_code == 422, patched.text
    assert _fields(patched.json()) == ["name"]


@pytest.mark.parametrize("name", list(HIDDEN.values()), ids=list(HIDDEN))
async def test_api_key_names_refuse_hidden_characters(api: Api, name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await create_api_key(api.sessions, name, Role.VIEWER)
    assert [error.field for error in refused.value.errors] == ["name"]


async def test_visible_unicode_names_are_kept(api: Api) -> None:
    job = await api.create_job(name="Nächtlicher Bericht — 夜間レポート ✔")
    assert job["name"] == "Nächtlicher Bericht — 夜間レポート ✔"
    response = await api.call("POST", f"{V1}/job-types", json={"name": "تقارير"})
    assert response.status_code == 201
