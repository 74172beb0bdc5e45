# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attributes every module documents, in one place.

Each module names this fragment and states, under its own ``attributes:``, only
how far it supports check mode, diff mode and idempotency (``support:``, with
``details:`` when there is more to say): Ansible merges the two, attribute by
attribute. The action group and the platform are the same for every module.
"""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode with the same arguments, the second run reports no change
        and changes nothing.
  action_group:
    description: Use C(group/fleetimage.separated.separated) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - fleetimage.separated.separated
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""
