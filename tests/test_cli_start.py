"""`palt --help` / `--version` and argument parsing load no training stack.

``build_parser`` calls every subcommand's ``add_parser``; each must leave torch, lightning,
sklearn, the engine and the report modules unimported (they belong inside the command's ``run``).
Each command is checked in a fresh interpreter, since a module once imported stays imported.
"""

import json
import subprocess
import sys

import pytest

from palt.cli import COMMANDS

HEAVY = (
    "torch",
    "torchvision",
    "timm",
    "lightning",
    "sklearn",
    "scipy",
    "matplotlib",
    "palt.engine",
    "palt.report",
    "palt.methods",
    "palt.losses",
    "palt.models",
)

PROBE = """
import argparse, importlib, json, sys
module = importlib.import_module("palt.commands." + sys.argv[1])
module.add_parser(argparse.ArgumentParser().add_subparsers())
print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_parsing_a_command_imports_no_training_stack(command):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, command, *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == []
