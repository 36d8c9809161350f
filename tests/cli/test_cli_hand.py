"""The CLI fits the hand: --version, --verbose and --json where they make sense, help on
every option, clear errors for a lake with no ledger and an unknown run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from etl_lib import __version__
from etl_lib.cli.main import build_parser, main


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"etl-lib {__version__}"


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not action.help
    ]
    assert missing == []
    assert len(commands.choices) >= 11


@pytest.mark.parametrize("command", ["runs", "files", "plan", "run", "query", "validate-spec", "rejects", "reprocess"])
def test_verbose_and_json_are_accepted_after_the_command(command: str) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    options = {o for a in sub._actions for o in a.option_strings}
    assert {"--verbose", "-v", "--json"} <= options


def test_verbose_after_the_command_is_not_reset(tmp_path: Path) -> None:
    args = build_parser().parse_args(["runs", "--lake", str(tmp_path), "--verbose"])
    assert args.verbose is True
    assert build_parser().parse_args(["-v", "runs", "--lake", str(tmp_path)]).verbose is True
    assert build_parser().parse_args(["runs", "--lake", str(tmp_path)]).verbose is False


def test_runs_and_files_on_a_lake_with_no_ledger_fail_clearly(tmp_path: Path, repo: Path, capsys) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    for argv in (["runs", "--lake", str(lake)], ["files", "--spec", spec, "--lake", str(lake)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("etl-lib: no ledger at ") and "is --lake right?" in err, err
        assert len(err.splitlines()) == 1
    assert not (lake / "_meta").exists()  # nothing created
    assert main(["runs", "--lake", str(tmp_path / "lakee")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_an_unknown_run_id_fails_clearly(tmp_path: Path, capsys) -> None:
    from etl_lib.config import open_ledger, open_storage

    lake = tmp_path / "lake"
    lake.mkdir()
    open_ledger(None, open_storage(str(lake)))  # an empty ledger
    assert main(["runs", "--lake", str(lake), "--run", "20990101T000000Z-nope", "--json"]) == 2
    captured = capsys.readouterr()
    assert "--run 20990101T000000Z-nope: no such run" in captured.err
    assert json.loads(captured.out)["status"] == "failed"
