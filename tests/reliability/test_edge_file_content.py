"""Issue 31, point 4: nothing from a data file reaches an open endpoint.

A real sidecar polls a file whose first line is a secret (as ``/etc/shadow`` would be): the
column it becomes is no label on /metrics (it is counted under ``__other__``), only the columns
the spec names are. A symlink swapped into the dataset's folder that leads out of it is refused
at the next poll, and by ``validate``, unless the spec allows it; the path is shown resolved. A
file that fails to parse publishes none of its content: the error names its type and line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ROOT, free_port, wait_until

SECRET = "root:$6$S3CRETHASHxyz:19000:0:99999:7:::"


def _spec(tmp: Path, port: int, **dataset: Any) -> dict[str, Any]:
    return {
        "service": "files", "models": [{"name": "m"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.3s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [{
            "name": "tx", "path": "data/tx.csv", "poll_interval": "0.3s", **dataset}]},
        "objectives": [{"name": "amount-nulls", "signal": "null_ratio",
                        "selector": {"dataset": "tx", "column": "amount"},
                        "warning": "15%", "critical": "40%", "for": "0s"}],
    }




def _everything(sc: Any) -> str:
    """What anyone on the host can read without a token (loopback)."""
    return "\n".join(sc.get(p)[1].decode(errors="replace")
                     for p in ("/metrics", "/status", "/", "/objectives/amount-nulls"))


def _dataset(sc: Any) -> dict[str, Any]:
    found = [d for d in sc.status()["sources"]["datasets"] if d["name"] == "tx"]
    return found[0] if found else {"rows": None, "error": None}


def test_file_content_never_becomes_a_label(tmp_path: Path, sidecar_factory: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "tx.csv").write_text("amount,note\n1.5,a\n,b\n2.5,\n")
    spec = _spec(tmp_path, free_port())
    sc = sidecar_factory(spec, start=False)
    sc.spec_path.write_text(yaml.safe_dump(spec))       # relative paths: the spec's folder
    sc.start()
    wait_until(lambda: _dataset(sc)["rows"] == 3)
    text = sc.get("/metrics")[1].decode()
    assert 'column="amount"' in text                     # named by an objective
    assert 'column="note"' not in text                   # a file's own column: one label
    assert 'slo_agent_dataset_null_ratio{column="__other__",dataset="tx",service="files"}' \
        in text, text
    assert _dataset(sc)["path"] == str(data.resolve() / "tx.csv")       # shown resolved

    # a file whose first line is a secret (what /etc/shadow is): no label carries it
    (data / "tx.csv").write_text(SECRET + "\n" + SECRET.replace("root", "daemon") + "\n")
    wait_until(lambda: _dataset(sc)["rows"] == 1)
    assert "S3CRETHASH" not in _everything(sc)

    # the same file reached through a symlink swapped in later: refused, nothing read
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "shadow").write_text("amount,S3CRETHASH2\n1,2\n")
    (data / "tx.csv").unlink()
    (data / "tx.csv").symlink_to(outside / "shadow")
    wait_until(lambda: (_dataset(sc)["error"] or "").startswith("not read:"))
    assert "outside its folder" in _dataset(sc)["error"]
    assert "S3CRETHASH2" not in _everything(sc)
    assert 'slo_agent_source_up{kind="dataset",service="files",source="tx"} 0.0' in \
        sc.get("/metrics")[1].decode()

    # a file that fails to parse: its type and line, none of its content
    (data / "tx.csv").unlink()
    # (not UTF-8 on line 3: DuckDB's own message would quote line 2, the secret)
    (data / "tx.csv").write_bytes(b"amount,note\n1,S3CRETHASH3\n3,\xff\xfe\n")
    wait_until(lambda: "cannot parse" in (_dataset(sc)["error"] or ""))
    assert _dataset(sc)["error"] == f"cannot parse {data.resolve() / 'tx.csv'}: " \
        "InvalidInputException at line 3", _dataset(sc)["error"]
    assert "S3CRETHASH3" not in _everything(sc)


def _validate(spec_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", "validate", str(spec_path),
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_validate_refuses_a_symlink_out_of_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "shadow").write_text(SECRET + "\n")
    (data / "tx.csv").symlink_to(tmp_path / "shadow")
    spec_path = tmp_path / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(tmp_path, free_port())))
    res = _validate(spec_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "sources.datasets[0].path" in res.stderr and "outside its folder" in res.stderr
    assert "allow_symlinks_out" in res.stderr
    spec_path.write_text(yaml.safe_dump(_spec(tmp_path, free_port(),
                                              allow_symlinks_out=True)))
    res = _validate(spec_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["dataset_files"] == {"tx": str(tmp_path.resolve() / "shadow")}
