"""Background exports: past the synchronous limit a list export becomes a job run by the worker;
its page survives a reload, its file appears once, only its owner downloads it, and a killed
worker's job is redone rather than served half-written."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.db import db
from reports import commands, exports
from reports.models import ExportJob
from tests.reports.export_fixtures import UTC, make_incident, table


@pytest.fixture
def small_sync_limit(app):
    saved = {k: app.config.get(k) for k in ("EXPORT_SYNC_MAX_ROWS", "EXPORT_SPAWN_WORKER")}
    app.config.update(EXPORT_SYNC_MAX_ROWS=10, EXPORT_SPAWN_WORKER=False)
    yield
    for key, value in saved.items():
        if value is None:
            app.config.pop(key, None)
        else:
            app.config[key] = value


def _incidents(count: int) -> None:
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n in range(count):
        make_incident(start + dt.timedelta(hours=n), description=f"case {n}")
    db.session.commit()


def test_a_large_export_runs_in_the_background_and_its_file_appears_once(login_as, small_sync_limit, app):
    client = login_as("viewer")
    _incidents(25)
    response = client.get("/exports/incidents.xlsx?status=all")
    assert response.status_code == 303
    job_url = response.headers["Location"]
    job = db.session.scalar(select(ExportJob).order_by(ExportJob.id.desc()))
    assert job_url.endswith(f"/exports/jobs/{job.id}") and job.status == "queued" and job.rows_total == 25
    assert job.params == {"status": ["all"]}
    waiting = client.get(job_url).get_data(as_text=True)
    assert "export-progress.js" in waiting and 'http-equiv="refresh"' in waiting
    assert f"/exports/jobs/{job.id}/download" not in waiting.split('id="export-ready"')[1].split("</p>")[0] \
        or 'class="d-none"' in waiting
    assert client.get(f"/exports/jobs/{job.id}/download").status_code == 404      # not done yet

    assert commands.run_once() == 1
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert (job.status, job.rows_done, job.rows_total, job.attempts) == ("done", 25, 25, 1)
    assert commands.run_once() == 0                                                 # nothing left to do

    for _ in range(2):                                                              # a reload shows the same job
        page = client.get(job_url).get_data(as_text=True)
        assert page.count(f'href="/exports/jobs/{job.id}/download"') == 1
        assert 'http-equiv="refresh"' not in page
    status = client.get(f"/exports/jobs/{job.id}.json").json
    assert status["status"] == "done" and status["rows_done"] == 25 and status["percent"] == 100
    listing = client.get("/exports/jobs").get_data(as_text=True)
    assert f'/exports/jobs/{job.id}"' in listing

    downloaded = client.get(f"/exports/jobs/{job.id}/download")
    assert downloaded.status_code == 200 and downloaded.headers["Cache-Control"] == "private, no-store"
    app.config["EXPORT_SYNC_MAX_ROWS"] = 1000
    direct = client.get("/exports/incidents.xlsx?status=all")
    assert direct.status_code == 200
    background_table, direct_table = table(downloaded.data), table(direct.data)
    assert background_table[:2] == direct_table[:2]                               # header and every row
    assert len(background_table[1]) == 25
    assert {k: v for k, v in background_table[2].items() if k != "Exported at"} == \
        {k: v for k, v in direct_table[2].items() if k != "Exported at"}
    assert not list(exports.exports_dir().glob(f"job-{job.id}-*.part"))

    other = login_as("viewer")
    for url in (job_url, f"/exports/jobs/{job.id}.json", f"/exports/jobs/{job.id}/download"):
        assert other.get(url).status_code == 404


def test_a_killed_workers_job_is_redone_and_only_the_complete_file_is_served(login_as, small_sync_limit):
    client = login_as("viewer")
    _incidents(12)
    assert client.get("/exports/incidents.xlsx?status=all").status_code == 303
    job = db.session.scalar(select(ExportJob).order_by(ExportJob.id.desc()))
    # A worker claimed it, wrote part of the file, reported progress, then was SIGKILLed.
    assert commands.claim_next() == job.id
    part = exports.exports_dir() / f"job-{job.id}-deadbeef.xlsx.part"
    part.write_bytes(b"PK\x03\x04 half a workbook")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    db.session.execute(ExportJob.__table__.update().where(ExportJob.id == job.id)
                       .values(heartbeat_at=old, rows_done=5))
    db.session.commit()
    assert client.get(f"/exports/jobs/{job.id}/download").status_code == 404    # never the half file

    assert commands.run_once() == 1
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert (job.status, job.rows_done, job.attempts) == ("done", 12, 2)
    assert not part.exists()
    response = client.get(f"/exports/jobs/{job.id}/download")
    assert response.status_code == 200 and len(table(response.data)[1]) == 12


def test_a_job_killed_three_times_fails_with_a_message(login_as, small_sync_limit):
    client = login_as("viewer")
    _incidents(11)
    client.get("/exports/incidents.xlsx?status=all")
    job = db.session.scalar(select(ExportJob).order_by(ExportJob.id.desc()))
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    db.session.execute(ExportJob.__table__.update().where(ExportJob.id == job.id)
                       .values(status="running", attempts=commands.MAX_ATTEMPTS, heartbeat_at=old))
    db.session.commit()
    assert commands.run_once() == 0
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert job.status == "failed" and "3 times" in job.error
    assert "The export failed" in client.get(f"/exports/jobs/{job.id}").get_data(as_text=True)


def test_two_workers_never_claim_the_same_job(login_as, small_sync_limit):
    client = login_as("viewer")
    _incidents(11)
    client.get("/exports/incidents.xlsx?status=all")
    first, second = commands.claim_next(), commands.claim_next()
    assert first is not None and second is None


def test_the_api_queues_a_large_export_with_202(api_client, small_sync_limit):
    http, headers = api_client("viewer")
    _incidents(11)
    response = http.get("/api/v1/exports/incidents.xlsx?status=all", headers=headers)
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "queued" and body["rows_total"] == 11
    assert body["status_url"] == f"/api/v1/exports/jobs/{body['id']}"
    commands.run_once()
    status = http.get(body["status_url"], headers=headers).json
    assert status["status"] == "done" and status["download_url"]
    file = http.get(status["download_url"], headers=headers)
    assert file.status_code == 200 and len(table(file.data)[1]) == 11
    other, other_headers = api_client("viewer")
    assert other.get(body["status_url"], headers=other_headers).status_code == 404
