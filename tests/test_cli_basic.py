import subprocess
import sys

import blurmap
from blurmap.cli import main


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"blurmap {blurmap.__version__}"


def test_unknown_command_is_usage_error():
    assert main(["no-such-command"]) == 2


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "blurmap.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "blurmap" in out.stdout
