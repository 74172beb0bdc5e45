# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's claims of supported ansible-core series are what the project tests.

`make test` runs the series of requirements-dev.txt, `make matrix` one series per
requirements/ansible-core-SERIES.txt: together they must be exactly the series the
README's table of supported versions names, starting at meta/runtime.yml's
requires_ansible.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _series(requirements: Path) -> str:
    pin = re.search(r"^ansible-core==(\d+\.\d+)\.", requirements.read_text(), re.MULTILINE)
    assert pin, f"{requirements}: no ansible-core==X.Y.Z line"
    return pin.group(1)


def _readme_row(name: str) -> list[str]:
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith(f"| {name} |"):
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"README.md: no row '{name}' in the table of supported versions")


def test_every_claimed_series_is_tested():
    row = _readme_row("ansible-core (controller)")
    claimed = re.findall(r"\b2\.\d+\b", row[1].split("(")[0])
    matrix = {_series(path) for path in (REPO / "requirements").glob("ansible-core-*.txt")}
    for path in (REPO / "requirements").glob("ansible-core-*.txt"):
        assert path.name == f"ansible-core-{_series(path)}.txt", f"{path.name} pins another series"
    tested = matrix | {_series(REPO / "requirements-dev.txt")}
    assert sorted(tested, key=lambda v: tuple(map(int, v.split(".")))) == claimed
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={claimed[0]}.0"
    assert row[2].startswith("tested"), row[2]


def test_every_row_of_the_table_says_tested():
    for name in ("Python on managed hosts", "Python on the controller"):
        assert _readme_row(name)[2].startswith("tested"), name
