"""`change` refuses config keys a subcomponent does not know, unless told they are new."""

from __future__ import annotations

import pytest

from sandbox.facade import Sandbox, SandboxError


@pytest.fixture
def served(sandbox: Sandbox, serve) -> Sandbox:  # type: ignore[no-untyped-def]
    """No engine, only its git server: `change` pushes through it."""
    serve(sandbox.root)
    return sandbox


def test_unknown_key_is_refused_with_the_known_keys(served: Sandbox) -> None:
    with pytest.raises(SandboxError) as caught:
        served.change("typo", ["Xreplicas=ab"], subcomponent="web")
    message = str(caught.value)
    assert "web has no config key 'Xreplicas'" in message
    assert "did you mean 'replicas'?" in message
    assert "image.tag" in message and "replicas" in message and "--new-key" in message
    assert "typo" not in served.branches()  # nothing pushed


def test_new_key_is_accepted_when_said_so(served: Sandbox) -> None:
    served.change("feature", ["featureFlag=on"], subcomponent="web", new_key=True)
    assert "featureFlag" in served.hld_file("config/prod.yaml", "feature")


def test_keys_set_in_another_environment_or_used_by_a_template_are_known(
        served: Sandbox) -> None:
    # image.tag lives in common.yaml; the change writes prod.yaml.
    served.change("tag", ["image.tag=1.0.1"], subcomponent="web")
    assert "1.0.1" in served.hld_file("config/prod.yaml", "tag")


def test_a_map_is_not_a_value(served: Sandbox) -> None:
    with pytest.raises(SandboxError, match="'image' of web is a map.*image.tag"):
        served.change("map", ["image=1.0.1"], subcomponent="web")


def test_a_bad_value_fails_the_check_at_its_config_line(running: Sandbox) -> None:
    running.change("bad-replicas", ["replicas=abc"], subcomponent="web")
    prod = running.hld_file("config/prod.yaml", "bad-replicas").splitlines()
    line = next(i for i, text in enumerate(prod, 1) if "abc" in text)
    pr = running.open_pr("bad-replicas", "Scale web to abc")
    checked = running.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "failure"
    summary = checked.checks[0].summary
    assert f"config/prod.yaml:{line}: error: Deployment/demo/web: spec.replicas" in summary
    assert "web/deployment.yaml:" in summary  # where the ${replicas} sits, as context
