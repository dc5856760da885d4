"""Host rules as properties: whatever string a connection holds, the token only goes to a bare host."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider.api.host import check_tenant_host, is_loopback
from netskope_provider.exceptions import NetskopeConfigError

HOSTISH = st.text(alphabet="abcz09-.:/@?#[]% _", max_size=40) | st.builds(
    lambda label, suffix: f"{label}{suffix}",
    st.text(alphabet="abc-.", min_size=1, max_size=10),
    st.sampled_from(
        [".goskope.com", ".eu.goskope.com", "goskope.com", ".goskope.com.evil", ".goskope.com/x", ".goskope.com:443"]
    ),
)


@settings(max_examples=400, deadline=None)
@given(host=HOSTISH, scheme=st.sampled_from(["https", "http"]), allow=st.booleans())
def test_accepted_hosts_are_bare_and_inside_the_rules(host, scheme, allow):
    try:
        accepted = check_tenant_host(host, scheme=scheme, allow_non_goskope_host=allow)
    except NetskopeConfigError:
        return
    assert not set(accepted) & set("/@?# %")
    name = accepted.rsplit(":", 1)[0] if not accepted.startswith("[") else accepted[1 : accepted.index("]")]
    if not allow:
        assert name.endswith(".goskope.com") and scheme == "https"
    if scheme == "http":
        assert allow and is_loopback(name)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "127.1.2.3", "::1"])
def test_loopback_names(name):
    assert is_loopback(name)


@pytest.mark.parametrize("name", ["localhost.evil.com", "10.0.0.1", "tenant.goskope.com", "0.0.0.0"])
def test_not_loopback(name):
    assert not is_loopback(name)
