# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place a BundleError becomes fail_json: every module's main() ends here."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def run(module, operation, **kwargs):
    """Call OPERATION(module.params, **KWARGS) and end MODULE (an AnsibleModule) with its result or its error."""
    try:
        result = operation(module.params, **kwargs)
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
