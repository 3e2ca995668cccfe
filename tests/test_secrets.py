"""Secrets and files: the warehouse password appears in no output, log, error or file; the DSN's
query parameters reach psycopg2, dlt and dbt; a bad DSN exits 2 with a clear message; the
warehouse home is 0700 and the files of personal data in it are 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pytest

from ciw import cli
from ciw.warehouse import Dsn, Warehouse, WarehouseError, redact

ROOT = Path(__file__).absolute().parent.parent
PASSWORD = "Pw-0f-the-w4rehouse"  # trust authentication accepts it and ignores it
TIMEOUT_OPTION = "-c statement_timeout=4321"


def _password_dsn(warehouse: Warehouse, **params: str) -> str:
    """The test warehouse's DSN with PASSWORD and the given query parameters."""
    parts = urlsplit(warehouse.dsn.url())
    netloc = f"{parts.username}:{quote(PASSWORD)}@{parts.hostname}"
    netloc += f":{parts.port}" if parts.port else ""
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _ciw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ciw.cli", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _files_with(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _open_to_others(root: Path) -> list[str]:
    """Files and folders under root that the group or others may read, write or enter."""
    return [
        f"{p.relative_to(root)} {stat.filemode(p.stat().st_mode)}"
        for p in root.rglob("*")
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]


def test_no_password_anywhere_and_private_files(warehouse, tmp_path, monkeypatch, capsys):
    """A demo load, `ciw db status`, `ciw dbt --dsn ...` and a bad DSN, all with a password in
    the DSN: neither their output nor any file under the home or dbt's log folder holds it;
    the home is 0700 and nothing in it is open to others, whatever the umask."""
    home, logs = tmp_path / "home", tmp_path / "logs"
    dsn = _password_dsn(warehouse, options=TIMEOUT_OPTION)
    monkeypatch.setenv("CIW_HOME", str(home))
    monkeypatch.setenv("CIW_DSN", dsn)
    monkeypatch.setenv("DBT_LOG_PATH", str(logs))
    umask = os.umask(0o022)  # a usual umask: the CLI must not depend on the caller's
    try:
        assert cli.main(["demo", "generate", "--customers", "40"]) == 0
        assert cli.main(["load", "--demo", "--quiet", "pos", "helpdesk"]) == 0
        assert cli.main(["db", "status"]) == 0
    finally:
        os.umask(umask)
    captured = capsys.readouterr()
    # dbt in a process of its own (its log records the command line: `--dsn` and all)
    shown = _ciw(
        "dbt",
        "--dsn",
        dsn,
        "show",
        "--inline",
        "select current_setting('statement_timeout') as timeout_setting",
        env={"CIW_DSN": "", "DBT_LOG_PATH": str(logs)},
    )
    if warehouse.dsn.is_socket:  # a socket DSN has its port in the query string
        bad_dsn = dsn.replace("port=", "port=54x")
    else:
        bad_dsn = dsn.replace(f":{warehouse.dsn.port}/", ":54x2/")
    bad = _ciw("load", "--dsn", bad_dsn, env={})

    outputs = [captured.out, captured.err, shown.stdout, shown.stderr, bad.stdout, bad.stderr]
    assert [text for text in outputs if PASSWORD in text] == []
    assert "pos" in captured.out and ":***@" in captured.out  # db status: the DSN, redacted
    needle = PASSWORD.encode()
    assert (logs / "dbt.log").exists()
    assert _files_with(home, needle) == [] and _files_with(logs, needle) == []
    target = Path(os.environ["DBT_TARGET_PATH"])
    assert list(target.glob("*.json")) and _files_with(target, needle) == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert list((home / "dlt_pipelines").rglob("*.*")), "dlt wrote its packages here"
    assert _open_to_others(home) == []
    assert stat.S_IMODE((logs / "dbt.log").stat().st_mode) == 0o600
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert "4321ms" in shown.stdout  # the DSN's options reached dbt's session
    assert bad.returncode == 2 and "bad port" in bad.stderr and "Traceback" not in bad.stderr


def test_dsn_query_parameters_reach_psycopg2_dlt_and_dbt(warehouse, tmp_path):
    import dlt

    from ciw.config import Paths
    from ciw.dbt import dbt_env

    dsn = Dsn.parse(_password_dsn(warehouse, options=TIMEOUT_OPTION, application_name="ciw-t"))
    assert Dsn.parse(dsn.url()) == dsn and dict(dsn.params)["options"] == TIMEOUT_OPTION
    wh = Warehouse(dsn)
    assert wh.query("show statement_timeout") == [("4321ms",)]
    assert wh.query("select current_setting('application_name')") == [("ciw-t",)]
    pipeline = dlt.pipeline(
        "dsn_params", destination=wh.dlt_destination(), pipelines_dir=str(tmp_path / "dlt")
    )
    pipeline.run([{"id": 1}], table_name="t", dataset_name="dsn_params")
    with pipeline.sql_client() as client:
        assert client.execute_sql("show statement_timeout") == [("4321ms",)]
    env = dbt_env(wh, Paths(project=ROOT, home=tmp_path / "home"))
    assert env["PGOPTIONS"].split(" -c ") == ["-c work_mem=64MB", "statement_timeout=4321"]
    assert env["PGAPPNAME"] == "ciw-t"
    # TLS settings a server of the test cannot check: libpq's variables for dbt, keywords
    # for psycopg2, the URL for dlt
    tls = Dsn.parse(
        "postgresql://u:p@db.example:5432/wh?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        "&sslcert=/etc/c.pem&sslkey=/etc/c.key"
    )
    assert Warehouse(tls).dbt_env()["PGSSLMODE"] == "verify-full"
    assert Warehouse(tls).dbt_env()["PGSSLROOTCERT"] == "/etc/ca.pem"
    assert tls.connect_kwargs()["sslkey"] == "/etc/c.key"
    assert "sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem" in tls.url()
    assert "PGSSLMODE" not in Warehouse(Dsn.parse("postgresql://u@h/db")).dbt_env()


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://u:{pw}@db:54x2/wh", "bad port '54x2'"),
        ("postgresql://u:{pw}@db:70000/wh", "bad port '70000'"),
        ("postgresql://u:{pw}@db/wh?port=abc", "bad port 'abc'"),
        ("postgresql://u:{pw}@db/wh?sslmod=require", "unknown parameter(s) 'sslmod'"),
        ("mysql://u:{pw}@db/wh", "unsupported warehouse DSN scheme 'mysql'"),
        ("postgresql://u:{pw}@[db/wh", "not a URL"),
    ],
)
def test_a_bad_dsn_is_a_clear_error_without_its_password(
    dsn, message, tmp_path, monkeypatch, capsys
):
    text = dsn.format(pw=quote(PASSWORD))
    with pytest.raises(WarehouseError) as raised:
        Dsn.parse(text)
    assert message in str(raised.value) and PASSWORD not in str(raised.value)
    monkeypatch.setenv("CIW_HOME", str(tmp_path / "home"))
    for argv in (["load", "--dsn", text], ["db", "status", "--dsn", text]):
        assert cli.main(argv) == 2  # not a traceback
        captured = capsys.readouterr()
        assert message in " ".join(captured.err.split())
        assert PASSWORD not in captured.out + captured.err


def test_redact_hides_passwords_in_urls_and_keywords():
    assert redact("postgresql://al:p@ss:w0rd@db:5432/wh") == "postgresql://al:***@db:5432/wh"
    assert redact("at postgresql://al@db/wh ok") == "at postgresql://al@db/wh ok"
    assert redact("host=db password=s3cret user=al") == "host=db password=*** user=al"
    assert redact("postgresql://al@db/wh?password=s3cret&sslmode=require") == (
        "postgresql://al@db/wh?password=***&sslmode=require"
    )
    dsn = Dsn.parse("postgresql://al@db/wh?password=s3cret&sslmode=require")
    assert dsn.password == "s3cret" and "s3cret" not in dsn.redacted()
