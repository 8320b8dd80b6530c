"""README's "Commands", run as written, in order, on a clean copy of the project: what a new
operator types first must work on a fresh checkout (no ``instance/`` folder yet)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "quầy-một-cửa-mùa-thu-2026"  # long, not a common password
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "instance", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"
)


def readme_commands() -> list[str]:
    """The command lines of README's "Commands" block, comments and continuations dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def expand(line: str, out: Path) -> list[tuple[list[str], str | None]]:
    """Each way README's line is meant to be run: ``a|b`` alternatives each once, optional
    ``[...]`` parts left out (``--responses`` kept small), placeholders filled in."""
    line = line.replace("[--responses N]", "--responses 120")
    line = re.sub(r"\s*\[[^\]]*\]", "", line)
    choice = re.search(r"--format (\S+)", line)
    formats = choice.group(1).split("|") if choice else [""]
    runs: list[tuple[list[str], str | None]] = []
    for fmt in formats:
        concrete = line.replace(choice.group(1), fmt) if choice else line
        suffix = {"spec": "json", "index-csv": "csv", "index-xlsx": "xlsx"}.get(fmt, fmt)
        target = out / ("SPEC.json" if fmt == "spec" else f"export-{fmt}.{suffix}")
        concrete = concrete.replace("FILE", str(target))
        if "--format" not in concrete:
            concrete = concrete.replace("SPEC.json", str(out / "SPEC.json"))
            concrete = concrete.replace("AREAS.json", str(out / "AREAS.json"))
        concrete = concrete.replace("NAME", "sonoivu")
        given = f"{PASSWORD}\n{PASSWORD}\n" if "create-admin" in concrete else None
        runs.append((concrete.split(), given))
    return runs


def write_areas_spec(out: Path) -> None:
    """AREAS.json for ``small-area``: every unit's direct overall index and its SE, from the
    index table exported before, with the unit's level as a covariate."""
    with (out / "export-index-csv.csv").open(encoding="utf-8-sig", newline="") as f:
        units = [
            row
            for row in csv.DictReader(f)
            if row["level"] == "unit"
            and row["kind"] == "overall"
            and row["measure"] == "top2box"
            and row["se"]
            and float(row["se"]) > 0
        ]
    with (out / "areas.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "direct", "direct_se", "n"])
        for row in units:
            writer.writerow([row["unit"], row["estimate"], row["se"], row["n"]])
    spec = {
        "data": "areas.csv",
        "area": "unit",
        "estimate": "direct",
        "se": "direct_se",
        "covariates": [{"column": "n", "type": "numeric"}],
        "method": "REML",
    }
    (out / "AREAS.json").write_text(json.dumps(spec), encoding="utf-8")


@pytest.mark.slow
def test_readme_commands_run_in_order_on_a_fresh_checkout(tmp_path: Path) -> None:
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "HAILONG_", "FLASK_", "TEST_DATABASE"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    lines = readme_commands()
    assert lines[0] == "export FLASK_APP=wsgi"
    env["FLASK_APP"] = "wsgi"
    printed: dict[str, str] = {}
    for line in lines[1:]:
        for argv, given in expand(line, out):
            if argv[0] == "python":
                argv[0] = sys.executable
            if "small-area" in argv:
                write_areas_spec(out)
            began = time.perf_counter()
            done = subprocess.run(
                argv, cwd=copy, env=env, input=given, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
            printed[" ".join(argv[:4])] = done.stdout
            print(f"{time.perf_counter() - began:6.1f} s  {' '.join(argv[:4])}")

    assert (copy / "instance" / "hailong.sqlite3").is_file()
    assert re.search(r"http://\S+/r/[\w-]+", "".join(printed.values()))
    for name in ("export-csv.csv", "export-xlsx.xlsx", "export-sav.sav", "export-dta.dta"):
        assert (out / name).stat().st_size > 0, name
    # The spec's data file is written beside it, and the estimate of the overall index it
    # asks for is the province's overall index of the round's index table.
    assert (out / "SPEC.csv").stat().st_size > 0
    estimate = json.loads(printed[f"{sys.executable} -m analysis estimate"])["estimates"][0]
    with (out / "export-index-csv.csv").open(encoding="utf-8-sig", newline="") as f:
        province = next(
            row
            for row in csv.DictReader(f)
            if row["level"] == "province"
            and row["kind"] == "overall"
            and row["measure"] == "top2box"
        )
    areas = json.loads(printed[f"{sys.executable} -m analysis small-area"])["areas"]
    assert areas and all(0 <= a["shrinkage"] <= 1 for a in areas)
    assert round(100 * estimate["estimate"], 2) == pytest.approx(
        float(province["estimate"]), abs=0.006
    )
