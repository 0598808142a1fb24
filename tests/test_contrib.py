"""contrib/: the udev rule and the systemd unit are valid for their tools and run devsec correctly.

``systemd-analyze verify`` checks the unit (on a copy whose ExecStart names
the devsec actually installed: the tool rightly refuses a missing binary).
``udevadm verify`` (systemd 254+) checks the rule where it exists; a small
checker of the rules syntax runs everywhere.  Both command lines are parsed
with devsec's own argument parser.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devsec.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "contrib" / "udev" / "90-devsec.rules"
UNIT = ROOT / "contrib" / "systemd" / "devsec.service"

# udev(7): keys that only match, keys that only assign, and keys that do both.
MATCH_KEYS = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS",
              "ATTRS", "TAGS", "TEST", "PROGRAM", "RESULT", "CONST"}
ASSIGN_KEYS = {"OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS",
               "WAIT_FOR"}
BOTH_KEYS = {"NAME", "SYMLINK", "ATTR", "SYSCTL", "ENV", "TAG"}
WITH_ATTRIBUTE = {"ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "TEST", "SECLABEL", "IMPORT", "RUN"}
_PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,?)\s*')


def check_rules(text: str) -> list[list[tuple[str, str, str, str]]]:
    """Parse udev rules into rules of (key, attribute, operator, value); raise ValueError with the line."""
    rules: list[list[tuple[str, str, str, str]]] = []
    labels: set[str] = set()
    gotos: set[str] = set()
    logical = re.sub(r"\\\n", "", text)
    for number, line in enumerate(logical.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, position = [], 0
        while position < len(line):
            match = _PAIR.match(line, position)
            if match is None:
                raise ValueError(f"line {number}: cannot parse at {line[position:position + 30]!r}")
            key, attribute, op, value, comma = match.groups()
            if key not in MATCH_KEYS | ASSIGN_KEYS | BOTH_KEYS:
                raise ValueError(f"line {number}: unknown key {key}")
            if attribute is not None and key not in WITH_ATTRIBUTE:
                raise ValueError(f"line {number}: {key} takes no {{attribute}}")
            if key in MATCH_KEYS and op not in ("==", "!="):
                raise ValueError(f"line {number}: {key} only matches (== or !=), not {op}")
            if key in ASSIGN_KEYS and op in ("==", "!="):
                raise ValueError(f"line {number}: {key} only assigns, not {op}")
            if key == "RUN" and attribute in (None, "program") and not value.startswith("/"):
                raise ValueError(f"line {number}: RUN wants an absolute program path: {value!r}")
            (labels if key == "LABEL" else gotos if key == "GOTO" else set()).add(value)
            pairs.append((key, attribute or "", op, value))
            position = match.end()
            if not comma and position < len(line):
                raise ValueError(f"line {number}: missing comma")
        if not any(op not in ("==", "!=") for _, _, op, _ in pairs):
            raise ValueError(f"line {number}: a rule that only matches does nothing")
        rules.append(pairs)
    if gotos - labels:
        raise ValueError(f"GOTO without LABEL: {sorted(gotos - labels)}")
    return rules


def test_rules_checker_refuses_what_udev_would() -> None:
    good = 'ACTION=="add", SUBSYSTEM=="pci", RUN+="/usr/bin/true"\n'
    assert check_rules(good) == [[("ACTION", "", "==", "add"), ("SUBSYSTEM", "", "==", "pci"),
                                  ("RUN", "", "+=", "/usr/bin/true")]]
    for bad, reason in (
        ('ACTON=="add", RUN+="/bin/true"', "unknown key ACTON"),
        ('ACTION="add", RUN+="/bin/true"', "only matches"),
        ('ACTION=="add", RUN=="/bin/true"', "only assigns"),
        ('ACTION=="add" RUN+="/bin/true"', "missing comma"),
        ("ACTION==add, RUN+=\"/bin/true\"", "cannot parse"),
        ('ACTION=="add", RUN+="devsec udev-hook"', "absolute program path"),
        ('ACTION=="add", SUBSYSTEM=="pci"', "only matches does nothing"),
        ('ACTION!="add", GOTO="end"', "GOTO without LABEL"),
    ):
        with pytest.raises(ValueError, match=reason):
            check_rules(bad + "\n")


def test_udev_rules_run_the_hook_for_pci_add_change_remove() -> None:
    admit, forget = check_rules(RULES.read_text())
    conditions = [{(key, op): value for key, _, op, value in rule if op in ("==", "!=")}
                  for rule in (admit, forget)]
    assert conditions == [
        {("ACTION", "=="): "add|change", ("SUBSYSTEM", "=="): "pci", ("TEST", "=="): "doe_features"},
        {("ACTION", "=="): "remove", ("SUBSYSTEM", "=="): "pci"},  # the sysfs directory is gone
    ]
    for rule in (admit, forget):
        (run,) = [value for key, _, _, value in rule if key == "RUN"]
        program, *arguments = shlex.split(run)
        assert program == "/usr/bin/devsec"
        args = build_parser().parse_args(arguments)
        assert args.command == "udev-hook" and args.policy == "/etc/devsec/policy.toml"
        assert args.sysfs == "/run/devsec" and args.kernel_sysfs == "/sys" and args.via is None


def test_udevadm_verify_accepts_the_rule() -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("udevadm is not installed here")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True, timeout=30,
                           check=False)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no 'verify' (systemd < 254)")
    result = subprocess.run([udevadm, "verify", "--resolve-names=never", str(RULES)], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _unit_values(text: str, key: str) -> list[str]:
    return [line.partition("=")[2] for line in text.splitlines() if line.startswith(f"{key}=")]


def test_systemd_unit_starts_the_daemon() -> None:
    text = UNIT.read_text()
    (exec_start,) = _unit_values(text, "ExecStart")
    program, *arguments = shlex.split(exec_start)
    assert program == "/usr/bin/devsec"
    args = build_parser().parse_args(arguments)
    assert args.command == "daemon" and args.policy == "/etc/devsec/policy.toml"
    assert args.sysfs == "/run/" + _unit_values(text, "RuntimeDirectory")[0]
    assert _unit_values(text, "Restart") == ["on-failure"]
    assert "AF_NETLINK" in _unit_values(text, "RestrictAddressFamilies")[0].split()
    assert "CAP_SYS_ADMIN" in _unit_values(text, "CapabilityBoundingSet")[0].split()
    assert not _unit_values(text, "ProtectKernelTunables")  # it would make /sys read-only


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    installed = shutil.which("devsec") or sys.executable
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/usr/bin/devsec", installed))
    result = _verify(copy)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and not output.strip(), output
    # The check can fail: systemd-analyze only warns (exit 0) about an unknown key.
    typo = tmp_path / "typo" / UNIT.name
    typo.parent.mkdir()
    typo.write_text(copy.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in _verify(typo).stderr
