# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen
short_description: Run plays like C(linear), with Mitogen's persistent interpreters
description:
  - The C(linear) strategy with Mitogen's strategy mix-in. Connections Mitogen knows (C(docker), C(ssh),
    C(local) and others given by their short names) keep one Python per host for the whole play, and every
    module runs inside it.
  - The provision play of C(immutable.images.build_image) uses it when the build plan chose Mitogen for its
    docker builders (Mitogen installed, C(image_mitogen=true), the docker CLI on PATH); otherwise that play
    uses the configured default strategy.
  - Needs the C(mitogen) Python package on the controller. ansible-core 2.21 warns that strategy plugins
    outside ansible.builtin are deprecated.
author:
  - immutable.images maintainers (!UNKNOWN)
"""

from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategy

try:
    from ansible_mitogen.strategy import StrategyMixin
    MITOGEN_IMPORT_ERROR = None
except ImportError as e:  # Mitogen is optional
    StrategyMixin = None
    MITOGEN_IMPORT_ERROR = str(e)


if StrategyMixin is None:
    class StrategyModule(LinearStrategy):
        def __init__(self, tqm):  # pylint: disable=super-init-not-called
            raise AnsibleError("the immutable.images.mitogen strategy needs Mitogen (pip install mitogen): %s"
                               % MITOGEN_IMPORT_ERROR)
else:
    class StrategyModule(StrategyMixin, LinearStrategy):
        pass
