"""What the sandbox reads from a request before any API logic: a body must be a JSON object."""

import pytest

from tests.sandbox.conftest import EXECUTION


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"", b'{"attemptNumber": NaN}'])
def test_bodies_that_are_not_json_objects_are_answered_400(sandbox, body):
    response = sandbox.request("POST", EXECUTION, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"]
