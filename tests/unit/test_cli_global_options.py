"""--node, --url, --api-key and --home: on the root group and after any subcommand."""

from __future__ import annotations

from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), obj=Context(), catch_exceptions=False, env=env)


def test_node_after_audit_and_query_is_used():
    for args in (["audit", "--node", "http://127.0.0.1:9"], ["--node", "http://127.0.0.1:9", "audit"],
                 ["query", "supply", "--node", "http://127.0.0.1:9"]):
        result = run(*args)
        assert result.exit_code == 3 and "127.0.0.1:9" in result.stderr, (args, result.output)


def test_url_after_a_job_command_is_used():
    result = run("jobs", "--url", "http://127.0.0.1:9", "--api-key", "k")
    assert result.exit_code == 3 and "127.0.0.1:9" in result.stderr


def test_home_option_sets_the_keyring(tmp_path, monkeypatch):
    monkeypatch.setenv("AITBC_HOME", str(tmp_path / "env-home"))
    assert run("keys", "add", "carol", "--home", str(tmp_path / "opt-home")).exit_code == 0
    assert (tmp_path / "opt-home" / "keys" / "carol.json").exists()
    assert run("--home", str(tmp_path / "opt-home"), "keys", "list").stdout.startswith("carol")


def test_node_between_a_group_and_its_default_command_is_used():
    for args in (["receipt", "--node", "http://127.0.0.1:9", "job_0123456789abcdef"],
                 ["receipt", "show", "job_0123456789abcdef", "--node", "http://127.0.0.1:9"]):
        result = run(*args, env={"AITBC_API_KEY": ""})
        assert result.exit_code == 3 and "127.0.0.1:9" in result.stderr, (args, result.output)
