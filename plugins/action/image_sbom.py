# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the CycloneDX SBOM of an artifact and run the vulnerability scan gate, on the controller."""

from __future__ import annotations

import os

from ansible_collections.immutable.images.plugins.plugin_utils._artifacts import sbom
from ansible_collections.immutable.images.plugins.plugin_utils._action_module import ActionFailure, ActionModuleBase


class ActionModule(ActionModuleBase):
    # The options are those of plugins/modules/image_sbom.py (its choices are sbom.COMPONENT_TYPES and
    # sbom.FAIL_ON_CHOICES; tests/unit/plugins/action/test_image_sbom_action.py checks they agree).

    def run_module(self, params, task_vars, result):
        errors = sbom.check_packages(params["packages"])
        if errors:
            raise ActionFailure("immutable.images.image_sbom: %s" % "; ".join(errors))
        metadata = {k: v for k, v in (params["metadata"] or {}).items() if v is not None}
        target = metadata.get("target") or metadata.get("image_name") or "artifact"
        document = sbom.cyclonedx_document({"packages": params["packages"], "os": params["os"]}, metadata)
        content = sbom.serialize(document)
        path = os.path.abspath(params["path"])
        fail_on = params["scan_fail_on"]
        count = sum(1 for c in document["components"] if c["type"] == "library")
        result.update(changed=True, path=path, package_count=count, scanner=None, fail_on=fail_on,
                      findings={}, blocking=[])
        if self._task.check_mode:
            result.update(sha256=sbom.sha256(content),
                          msg="Check mode: would write the SBOM of target %s (%d packages) to %s; no scan."
                          % (target, count, path))
            return result
        try:
            result["sha256"] = sbom.write(content, path)
        except OSError as e:
            return dict(result, changed=False, failed=True, stage="sbom", msg="Cannot write the SBOM to %s: %s" % (path, e))
        head = "SBOM of target %s (%d packages) written to %s" % (target, count, path)
        try:
            scanner = sbom.scanner_from_path(params["scanner"]) if params["scanner"] else sbom.find_scanner()
            if not scanner:
                return dict(result, msg="%s; no trivy or grype on PATH: the scan gate was skipped." % head)
            result["scanner"] = scanner[0]
            findings = sbom.run_scanner(scanner[0], scanner[1], path)
        except sbom.ScanError as e:
            if fail_on == "none":
                return dict(result, scan_error=str(e), msg="%s; the scan failed (ignored, scan_fail_on=none): %s" % (head, e))
            return dict(result, failed=True, stage="scan", scan_error=str(e),
                        msg="Scan gate failed for target %s: the scan could not run: %s" % (target, e))
        blocking = sbom.gate(findings, fail_on)
        counts = sbom.severity_counts(findings)
        result.update(findings=counts, blocking=blocking)
        if blocking:
            return dict(result, failed=True, stage="scan",
                        msg=sbom.blocking_message(target, scanner[0], fail_on, blocking))
        summary = ", ".join("%d %s" % (counts[s], s) for s in reversed(sbom.SEVERITIES) if counts[s]) or "no findings"
        result["msg"] = "%s; %s: %s; gate (%s) passed." % (head, scanner[0], summary, fail_on)
        return result
