"""Every command answers --help, and bad input is one line with exit code 2 (no traceback)."""
import subprocess
import sys

import pytest

from calibclip.cli.main import COMMANDS, main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "calibclip.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("spec", ["nope:x", "openclip", "", "tiny:/does/not/exist.pt"])
def test_bad_backbone_spec_is_one_line_exit_2(spec):
    result = _cli("encode", "--backbone", spec, "--text", "a red coat", "--device", "cpu")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_encode_with_random_tiny_prints_unit_norms():
    result = _cli("encode", "--backbone", "tiny:none", "--text", "a red coat", "--device", "cpu", "--json")
    assert result.returncode == 0, result.stderr
    import json
    payload = json.loads(result.stdout)
    assert payload["inputs"][0]["norm"] == pytest.approx(1.0, abs=1e-5)


def test_missing_image_is_one_line(tmp_path):
    result = _cli("encode", "--backbone", "tiny:none", "--image", str(tmp_path / "nope.jpg"), "--device", "cpu")
    assert result.returncode == 2
    assert result.stderr.startswith("error: image not found")
