"""contrib/: the systemd units, the cron line and the Ansible playbook are valid, and the
command they run works (with a configuration file naming the demo)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
DEMO = FIXTURES / "demo" / "etc"
MAILTLS = Path(sys.executable).parent / "mailtls"
INSTALLED = "/usr/local/bin/mailtls"
PROM = "/var/lib/prometheus/node-exporter/mailtls.prom"


def exec_start() -> list[str]:
    lines = (CONTRIB / "systemd" / "mailtls-audit.service").read_text().splitlines()
    [command] = [line.partition("=")[2] for line in lines if line.startswith("ExecStart=")]
    return shlex.split(command)


def demo_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"dovecot: [{DEMO / 'dovecot'}]\npostfix: [{DEMO / 'postfix'}]\n"
        f"ca_files: [{DEMO / 'ssl' / 'root.pem'}]\nprobe: {{host: 127.0.0.1, timeout: 2}}\n"
    )
    return config


def test_the_timer_and_the_cron_line_run_the_same_command() -> None:
    assert exec_start() == [
        INSTALLED, "audit", "--live", "--format", "prometheus", "--output", PROM
    ]  # fmt: skip
    [line] = [
        line for line in (CONTRIB / "cron" / "mailtls").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    fields = line.split(None, 6)
    assert fields[:5] == ["17", "6", "*", "*", "*"] and fields[5] == "root"
    assert shlex.split(fields[6]) == exec_start()
    assert line in (CONTRIB / "README.md").read_text()


def test_the_units_command_writes_the_metrics(tmp_path: Path) -> None:
    """ExecStart as written, the output moved to tmp_path, the settings from a config file."""
    argv = [str(MAILTLS) if a == INSTALLED else a for a in exec_start()]
    argv[argv.index(PROM)] = str(tmp_path / "mailtls.prom")
    env = {**os.environ, "MAILTLS_CONFIG": str(demo_config(tmp_path))}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 1, done.stderr  # the demo's story: a missing intermediate
    metrics = (tmp_path / "mailtls.prom").read_text()
    assert "mailtls_last_run_timestamp_seconds " in metrics
    assert 'endpoint="postfix:global"' in metrics  # the file's second configuration


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    """Unknown keys and bad values are warnings on stderr: the output must be empty."""
    for unit in ("mailtls-audit.service", "mailtls-audit.timer"):
        text = (CONTRIB / "systemd" / unit).read_text()
        (tmp_path / unit).write_text(text.replace(INSTALLED, str(MAILTLS)))  # it must exist
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def playbook() -> list[dict[str, object]]:
    plays = YAML(typ="safe").load((CONTRIB / "ansible" / "mailtls-audit.yml").read_text())
    assert isinstance(plays, list)
    return plays


def test_the_playbook_runs_mailtls_audit_json_and_saves_each_report() -> None:
    [play] = playbook()
    assert play["become"] is True and play["gather_facts"] is False
    tasks = play["tasks"]
    assert isinstance(tasks, list)
    modules = [next(k for k in task if k.startswith("ansible.builtin.")) for task in tasks]
    assert modules == [
        "ansible.builtin.command",
        "ansible.builtin.file",
        "ansible.builtin.copy",
        "ansible.builtin.debug",
    ]
    assert tasks[0]["ansible.builtin.command"]["argv"][1:] == ["audit", "--format", "json"]
    assert tasks[0]["failed_when"] == "mailtls_audit.rc not in [0, 1]"
    assert "{{ inventory_hostname }}.json" in tasks[2]["ansible.builtin.copy"]["dest"]


ANSIBLE = shutil.which("ansible-playbook") or os.environ.get("ANSIBLE_PLAYBOOK")


@pytest.mark.skipif(not ANSIBLE, reason="ansible-playbook not installed")
def test_the_playbook_against_localhost_gathers_the_report(tmp_path: Path) -> None:
    """The real ansible-playbook: --syntax-check, then a run on localhost (local connection)."""
    assert ANSIBLE is not None
    inventory = tmp_path / "inventory"
    inventory.write_text("localhost ansible_connection=local\n")
    book = str(CONTRIB / "ansible" / "mailtls-audit.yml")
    base = [ANSIBLE, "-i", str(inventory), book]
    env = {**os.environ, "MAILTLS_CONFIG": str(demo_config(tmp_path))}
    check = subprocess.run([*base, "--syntax-check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    extra = {
        "mailtls_command": str(MAILTLS),
        "mailtls_report_dir": str(tmp_path / "reports"),
        "ansible_become": False,  # already root, or not: no sudo needed for the demo
        "ansible_python_interpreter": sys.executable,
    }
    done = subprocess.run(
        [*base, "-e", json.dumps(extra)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports" / "localhost.json").read_text())
    assert report["schema"] == 1
    assert {f["code"] for f in report["findings"]} >= {"missing-intermediate"}
