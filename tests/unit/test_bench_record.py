"""Every benchmark result says on what machine it was taken (``bench/record.py``)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import record


def test_a_result_carries_the_machine_and_goes_under_results_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "RESULTS", tmp_path / "results")
    path = record.save("backfill-30", {"wall_seconds": 12.5}, quiet=True)
    assert path == tmp_path / "results" / "backfill-30.json"
    saved = json.loads(path.read_text())
    assert saved["wall_seconds"] == 12.5
    assert saved["machine"]["cpus"] >= 1 and saved["machine"]["python"] == sys.version.split()[0]
    assert 0 < saved["machine"]["python_loop_s"] < 60


def test_a_result_read_back_and_saved_again_keeps_the_machine_it_was_taken_on(tmp_path):
    first = {"machine": {"python_loop_s": 9.99, "cpus": 64}, "wall_seconds": 1.0}
    path = record.save(tmp_path / "deep" / "r.json", first | {"split": {"overhead": 0.5}}, quiet=True)
    saved = json.loads(path.read_text())
    assert saved["machine"] == {"python_loop_s": 9.99, "cpus": 64} and saved["split"] == {"overhead": 0.5}


def test_values_json_cannot_hold_are_written_as_text(tmp_path):
    path = record.save(tmp_path / "r.json", {"home": tmp_path}, quiet=True)
    assert json.loads(path.read_text())["home"] == str(tmp_path)


@pytest.mark.parametrize("where", ["sub/name.json"])
def test_a_relative_path_is_a_path_not_a_name(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    assert record.save(where, {}, quiet=True).resolve() == (tmp_path / where).resolve()


def test_the_cpu_sampler_counts_a_components_process_tree_and_tasks_apart(tmp_path):
    """Real processes: a 'scheduler' (PID file) whose child burns CPU, and a process named as a task, read once more after it ended."""
    import subprocess
    import time

    import proc_cpu

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    sampler = proc_cpu.CpuSampler(tmp_path, interval=0.1).start()
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"])
    (tmp_path / "scheduler.pid").write_text(str(parent.pid))
    task = subprocess.Popen(["bash", "-c", f'exec -a "airflow worker -- 0190-task" {sys.executable} -c "$0"', burn])
    parent.wait()
    while Path(f"/proc/{task.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    sampler.sample()  # ended, not reaped yet: no command line any more, still counted as the task it was
    task.wait()
    totals = sampler.stop()["by_component"]
    assert totals.get("scheduler", 0) >= 0.4 and totals.get("tasks", 0) >= 0.4, totals
    assert proc_cpu.is_task("airflow supervisor") and not proc_cpu.is_task("airflow worker -- LocalExecutor: <idle>")
