# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter bundle_apps (documented in bundle_apps.yml): module_utils' _bundle.selection for templates."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.selection import wanted_apps
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def bundle_apps(index_text, apps=None, bundle="", verify=True, reserved=None):
    try:
        return wanted_apps(index_text, apps, bundle, verify=verify, reserved=reserved)
    except BundleError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"bundle_apps": bundle_apps}
