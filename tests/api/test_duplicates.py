"""Near-duplicate documents, end to end: flagged at ingestion (the document view and the job result),
clustered by GET …/duplicates with their similarity, passages repeated across documents listed; a
topical neighbour that shares no text is not a duplicate."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_kb, ingest

RETURNS = (
    "Customers may return unworn shoes within 45 days of delivery for a full refund. Sale items can be "
    "exchanged but not refunded. Refunds reach the original card within 5 business days after the parcel "
    "is scanned at our warehouse in Leeds. Shoes that were worn outdoors cannot be returned, but we "
    "repair broken soles free of charge for a year. To start a return, open your order and choose the "
    "items to send back."
)
REWORDED = (
    "Clients can return unworn shoes within 45 days of delivery for a complete refund. Sale items may be "
    "exchanged but never refunded. Refunds arrive on the original card within 5 business days once the "
    "parcel is scanned at our Leeds warehouse. Shoes worn outdoors cannot be returned, yet we mend broken"
    " soles for free for one year. To begin a return, open the order and pick the items to send back."
)
TRUNCATED = RETURNS[: len(RETURNS) * 2 // 3]
FOOTER = (
    "Acme Footwear Ltd, 12 Mill Street, Leeds LS1 4AB. "
    "Registered in England and Wales, company number 0123456. "
)
SIZING = (
    "Our shoes run true to size. If you are between two sizes, pick the larger one for boots and the "
    "smaller one for sandals. Wide fittings are marked W on the product page; measure your foot in the "
    "evening, when it is largest, and compare it with the chart in centimetres. "
)
CARE = (
    "Leather shoes last longer with a little care: brush off dirt after wearing, let wet shoes dry slowly"
    " away from radiators, and feed the leather with wax every month. Suede needs a soft brush and a "
    "protective spray before the first wear. "
)


@pytest.mark.both_databases  # fingerprints as bytes, flags in a JSON column read back as text
def test_near_duplicates_are_flagged_and_clustered(client: TestClient) -> None:
    kb_id = create_kb(client)
    files = [
        ("returns.txt", RETURNS.encode(), "text/plain"),
        ("sizing.md", f"# Sizing\n\n{SIZING}\n\n## Company\n\n{FOOTER}".encode(), "text/markdown"),
        ("care.md", f"# Care\n\n{CARE}\n\n## Company\n\n{FOOTER}".encode(), "text/markdown"),
    ]
    ingest(client, kb_id, files)
    later = ingest(
        client,
        kb_id,
        [
            ("returns-old.txt", REWORDED.encode(), "text/plain"),
            ("returns-cut.txt", TRUNCATED.encode(), "text/plain"),
        ],
    )
    docs = {d["title"]: d for d in client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]}
    returns_id = docs["returns.txt"]["id"]
    for name in ("returns-old.txt", "returns-cut.txt"):
        flag = docs[name]["near_duplicate_of"]
        assert flag is not None and flag["document_id"] in {returns_id, docs["returns-old.txt"]["id"]}, (
            name,
            flag,
        )
        assert 0.4 <= flag["similarity"] <= 1
    assert docs["Sizing"]["near_duplicate_of"] is None and docs["Care"]["near_duplicate_of"] is None
    assert later[1]["result"]["near_duplicate_of"]["similarity"] >= 0.4  # the job's result says it too

    report = client.get(f"/v1/knowledge-bases/{kb_id}/duplicates").json()
    assert len(report["documents"]) == 1, report
    cluster = report["documents"][0]
    assert {d["title"] for d in cluster["documents"]} == {"returns.txt", "returns-old.txt", "returns-cut.txt"}
    assert cluster["similarity"] == max(p["similarity"] for p in cluster["pairs"]) >= 0.4
    assert [sorted(p["title"] for p in passage["places"]) for passage in report["passages"]] == [
        ["Care", "Sizing"]
    ]
    assert "Registered in England and Wales" in report["passages"][0]["text"]

    assert docs["returns-old.txt"]["near_duplicate_of"]["document_id"] == returns_id  # the only earlier copy
    assert client.delete(f"/v1/knowledge-bases/{kb_id}/documents/{returns_id}").status_code == 204
    after = {d["title"]: d for d in client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]}
    assert after["returns-old.txt"]["near_duplicate_of"] is None  # no flag points at a deleted document

    strict = client.get(
        f"/v1/knowledge-bases/{kb_id}/duplicates", params={"threshold": 1, "passages": False}
    ).json()
    assert strict["passages"] == [] and all(c["similarity"] == 1 for c in strict["documents"])
    assert client.get(f"/v1/knowledge-bases/{kb_id}/duplicates", params={"threshold": 0}).status_code == 422
