"""Labels, the label filter and `PUT /jobs/by-name/{name}` (create, replace, unchanged)."""

from __future__ import annotations

from tickwork_shared.enums import Role

from tests.integration.api.conftest import Api, job_body

JOBS = "/api/v1/jobs"


async def test_labels_are_stored_and_every_label_filter_must_match(api: Api) -> None:
    await api.create_job(name="a", labels={"team": "billing", "tier": "1"})
    await api.create_job(name="b", labels={"team": "billing"})
    await api.create_job(name="c", labels={"team": "search", "tier": "1"})
    await api.create_job(name="d")

    async def names(*labels: str) -> list[str]:
        response = await api.call("GET", JOBS, params={"label": list(labels)})
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["items"])

    assert await names("team=billing") == ["a", "b"]
    assert await names("team=billing", "tier=1") == ["a"]
    assert await names("tier=1") == ["a", "c"]
    assert await names("team=nobody") == []
    job = (await api.call("GET", JOBS, params={"search": "d"})).json()["items"][0]
    assert job["labels"] == {}

    # A PATCH replaces the labels, and the filter follows.
    a = (await api.call("GET", JOBS, params={"label": "tier=1", "search": "a"})).json()
    patched = await api.call(
        "PATCH", f"{JOBS}/{a['items'][0]['id']}", json={"labels": {"team": "search"}}
    )
    assert patched.status_code == 200, patched.text
    assert await names("team=billing") == ["b"]
    assert await names("team=search") == ["a", "c"]


async def test_bad_labels_and_label_filters_are_422_naming_the_field(api: Api) -> None:
    cases = [
        {"Team": "x"},  # upper case key
        {"-team": "x"},  # must start with a letter or digit
        {"k" * 64: "x"},  # key too long
        {"team": "v" * 64},  # value too long
        {f"k{i}": "v" for i in range(21)},  # too many pairs
    ]
    for labels in cases:
        response = await api.call("POST", JOBS, json=job_body(name="bad", labels=labels))
        assert response.status_code == 422, (labels, response.text)
        assert any(e["field"].startswith("labels") for e in response.json()["errors"])
    ok = await api.call("POST", JOBS, json=job_body(name="ok", labels={"a.b/c-d_e": "v" * 63}))
    assert ok.status_code == 201, ok.text
    response = await api.call("GET", JOBS, params={"label": "no-equals-sign"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "label"


async def test_put_by_name_creates_replaces_and_leaves_an_equal_spec_unchanged(api: Api) -> None:
    path = f"{JOBS}/by-name/report"
    spec = {
        "taskFunction": "tickwork.noop",
        "schedule": {"kind": "interval", "seconds": 60},
        "labels": {"team": "billing"},
        "priority": 5,
    }
    created = await api.call("PUT", path, json=spec)
    assert created.status_code == 201, created.text
    assert created.headers["Tickwork-Change"] == "created"
    job = created.json()
    assert (job["name"], job["version"], job["labels"]) == ("report", 1, {"team": "billing"})

    # The same spec again (interval without startAt included): nothing changes.
    again = await api.call("PUT", path, json={**spec, "name": "report"})
    assert again.status_code == 200, again.text
    assert again.headers["Tickwork-Change"] == "unchanged"
    assert again.json()["version"] == 1
    assert again.json()["schedule"] == job["schedule"]
    assert len(await api.audit_rows("job", job["id"])) == 1

    # Replaced: fields left out go back to their defaults.
    replaced = await api.call("PUT", path, json={**spec, "labels": {}, "priority": 0} | {})
    assert replaced.status_code == 200
    assert replaced.headers["Tickwork-Change"] == "updated"
    body = replaced.json()
    assert (body["id"], body["version"], body["labels"], body["priority"]) == (
        job["id"],
        2,
        {},
        0,
    )
    spec_without_priority = {k: v for k, v in spec.items() if k != "priority"}
    back = await api.call("PUT", path, json=spec_without_priority)
    assert back.json()["priority"] == 0
    assert back.json()["labels"] == {"team": "billing"}
    assert back.json()["version"] == 3


async def test_put_by_name_dry_run_validates_and_changes_nothing(api: Api) -> None:
    path = f"{JOBS}/by-name/dry"
    spec = {"taskFunction": "tickwork.noop", "schedule": {"kind": "interval", "seconds": 60}}
    dry = await api.call("PUT", path, json=spec, params={"dryRun": "true"})
    assert dry.status_code == 201, dry.text
    assert dry.headers["Tickwork-Change"] == "created"
    listed = await api.call("GET", JOBS, params={"search": "dry"})
    assert listed.json()["total"] == 0

    await api.call("PUT", path, json=spec)
    changed = {**spec, "priority": 9}
    dry = await api.call("PUT", path, json=changed, params={"dryRun": "true"})
    assert dry.headers["Tickwork-Change"] == "updated"
    assert dry.json()["priority"] == 9
    stored = (await api.call("GET", JOBS, params={"search": "dry"})).json()["items"][0]
    assert (stored["priority"], stored["version"]) == (0, 1)

    bad = await api.call(
        "PUT",
        path,
        json={**spec, "schedule": {"kind": "cron", "expression": "nope"}},
        params={"dryRun": "true"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("schedule")


async def test_put_by_name_refuses_another_name_and_non_admins(api: Api) -> None:
    spec = job_body(name="other")
    response = await api.call("PUT", f"{JOBS}/by-name/mine", json=spec)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"
    response = await api.call(
        "PUT", f"{JOBS}/by-name/mine", json=job_body(name="mine"), role=Role.OPERATOR
    )
    assert response.status_code == 403


async def test_put_by_name_with_a_control_character_in_the_path_is_422_naming_it(
    api: Api,
) -> None:
    body = {k: v for k, v in job_body().items() if k != "name"}
    response = await api.call("PUT", f"{JOBS}/by-name/%C3%AF%C2%94", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "name"
    assert "control or format characters" in error["message"]
