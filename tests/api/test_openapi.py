"""The OpenAPI document generates and describes both upload bodies."""

from fastapi.testclient import TestClient


def test_openapi_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    upload = spec["paths"]["/v1/knowledge-bases/{kb_id}/documents"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "/v1/knowledge-bases/{kb_id}/search" in spec["paths"]
    assert "/v1/knowledge-bases/{kb_id}/chat" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
