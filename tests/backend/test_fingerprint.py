"""Near-duplicate fingerprints: stable across processes and releases (they are stored), containment
robust to truncation and merging, and the score's two halves."""

from __future__ import annotations

from backend.text.fingerprint import containment, duplicate_score, jaccard, minhash, shingle_hashes

TEXT = (
    "Refunds reach the original card within five business days after the parcel is scanned at our "
    "warehouse in Leeds, and sale items can be exchanged but not refunded. Shoes worn outdoors cannot be "
    "returned, but broken soles are repaired free of charge for a year. To start a return, open the order, "
    "choose the items to send back, print the label and drop the parcel at any post office near you."
)

PINNED = [1006211417818069005, 1490315377114996433]


def test_signatures_are_stable_values() -> None:
    signature = minhash(shingle_hashes(TEXT))
    assert signature.dtype.name == "uint64" and signature.shape == (256,)
    # Stored signatures are compared with new ones: a change here makes every stored one meaningless.
    assert [int(v) for v in minhash(shingle_hashes("one two three four"))[:2]] == PINNED
    assert (signature == minhash(shingle_hashes(TEXT.upper()))).all()  # case does not matter
    assert shingle_hashes("a b").size == 1 and minhash(shingle_hashes("")).shape == (256,)


def test_containment_survives_truncation_and_merging() -> None:
    whole, half = shingle_hashes(TEXT), shingle_hashes(" ".join(TEXT.split()[:40]))
    merged = shingle_hashes(TEXT + " Boots need wax every month and laces are sold in pairs of two colours.")
    for part, other in ((half, whole), (whole, merged)):
        j = jaccard(minhash(part), minhash(other))
        assert containment(j, part.size, other.size) > 0.8
    unrelated = shingle_hashes(
        "Descale the kettle monthly with citric acid in hard-water areas of the country."
    )
    j = jaccard(minhash(whole), minhash(unrelated))
    assert containment(j, whole.size, unrelated.size) < 0.1


def test_the_score_takes_the_stronger_signal() -> None:
    assert duplicate_score(0.5, 0.9) == 0.9  # a truncated copy: the text says it
    assert abs(duplicate_score(0.97, 0.2) - 0.7) < 1e-9  # a reworded copy: the meaning says it
    assert duplicate_score(0.85, 0.05) == 0.05  # a topical neighbour: neither signal
