"""`make dev`'s private PostgreSQL asks platformdirs for a runtime folder under `.data/`."""

import warnings
from pathlib import Path

import platformdirs
import pytest

from tools.dev import private_runtime_dir


def test_the_runtime_folder_is_private_even_when_an_older_run_made_it_0755(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "run").mkdir(parents=True, mode=0o755)
    (data_dir / "run").chmod(0o755)  # as `make dev` left it before

    runtime_dir = private_runtime_dir(data_dir)

    assert runtime_dir == data_dir / "run"
    assert runtime_dir.stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        platformdirs.user_runtime_path("python_PostgresServer")  # what pgserver asks
    about_the_folder = [str(w.message) for w in caught if str(runtime_dir) in str(w.message)]
    assert about_the_folder == []
