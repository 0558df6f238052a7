# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""provenance.public_key_pem for both supported key types, with securesystemslib's public API only."""

from __future__ import annotations

import pytest

from ansible_collections.immutable.images.plugins.module_utils._artifacts import provenance


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_public_key_pem_round_trips(kind):
    signer_mod = pytest.importorskip("securesystemslib.signer")
    signer = getattr(signer_mod.CryptoSigner, "generate_" + kind)()
    pem = provenance.public_key_pem(signer)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert provenance.load_public_key(pem.encode()).keyid == signer.public_key.keyid
