"""var/ and the secrets in it can be read by the app's own user only: 0700 and 0600."""

from __future__ import annotations

import stat

from config.private_files import create_private, private_dir, write_private
from config.settings import Settings


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_generated_keys_are_0600_in_a_0700_folder(tmp_path):
    var = tmp_path / "var"

    Settings.from_env({"OVERLAP_VAR_DIR": str(var)}, read_dotenv=False)

    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600
    assert mode(var / "token_key") == 0o600
    assert [p.name for p in var.iterdir() if p.name.endswith(".tmp")] == []


def test_a_var_folder_and_key_made_before_the_rule_are_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "secret_key").write_text("s" * 48)
    (var / "secret_key").chmod(0o644)

    settings = Settings.from_env({"OVERLAP_VAR_DIR": str(var)}, read_dotenv=False)

    assert settings.secret_key == "s" * 48
    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600


def test_a_private_file_is_created_0600_and_an_existing_one_is_tightened(tmp_path):
    path = tmp_path / "var" / "overlap.db"
    create_private(path)
    assert mode(path) == 0o600 and mode(private_dir(path.parent)) == 0o700

    path.chmod(0o644)
    create_private(path)
    assert mode(path) == 0o600


def test_a_key_written_while_another_process_wrote_one_keeps_the_first(tmp_path):
    path = tmp_path / "var" / "token_key"
    write_private(path, "first", keep_existing=True)
    write_private(path, "second", keep_existing=True)

    assert path.read_text() == "first"
    assert [p.name for p in path.parent.iterdir()] == ["token_key"]


def test_keys_generated_by_processes_starting_together_are_one_key(tmp_path):
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    for round_ in range(5):
        var = tmp_path / f"var{round_}"
        barrier, results = fork.Barrier(6), fork.Queue()
        starters = [
            fork.Process(target=_token_key_of, args=(var, barrier, results)) for _ in range(6)
        ]
        for p in starters:
            p.start()
        made = {results.get(timeout=30) for _ in starters}
        for p in starters:
            p.join()

        assert made == {(var / "token_key").read_text().strip()}


def _token_key_of(var, barrier, results) -> None:
    barrier.wait()
    env = {"OVERLAP_VAR_DIR": str(var)}
    results.put(Settings.from_env(env, read_dotenv=False).token_keys[0])
