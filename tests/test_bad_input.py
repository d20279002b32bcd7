"""The bad-input corpus: each mistake gets a specific error that names it, and changes nothing.

The cases live in ``tests/bad_input/cases_*.py`` (one :class:`~bad_input.Case` per
row); the README's "Errors" section lists them. For every case: the call raises the
case's ``labelkit.errors`` class, the message names the bad value, and a dump of
every document in the database is byte-for-byte the same before and after.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from bad_input import Context, all_cases, dump

from labelkit import errors

CASES = all_cases()
README = Path(__file__).resolve().parents[1] / "README.md"


def _scene(i: int) -> np.ndarray:
    img = np.full((240, 320, 3), 60 + 40 * i, np.uint8)
    img[60:140, 40:120] = (220, 40, 40)  # a "ball"
    img[100:200, 180:260] = (40, 40, 220)  # a "mug"
    return img


@pytest.fixture
def ctx(fo, tmp_path, dataset_name):
    """3 images with proposals; sample 0 reviewed (see :class:`bad_input.Context`)."""
    from PIL import Image

    import labelkit as lk

    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i in range(3):
        path = folder / f"img{i}.jpg"
        Image.fromarray(_scene(i)).save(path, quality=95)
        paths.append(path)
    ds = lk.load_images(folder, name=dataset_name)

    def model_fn(images):
        return [
            {"boxes": [[40, 60, 120, 140], [180, 100, 260, 200]], "labels": [0, 1], "scores": [0.9, 0.8]}
            for _ in images
        ]

    lk.propose(ds, lk.models.from_callable(model_fn, classes=["ball", "mug"]), field="predictions")
    session = lk.ReviewSession(ds, proposals="predictions", labels="ground_truth")
    session.accept(0)
    session.submit()
    samples = sorted(ds, key=lambda s: s.filepath)
    scratch = tmp_path / "case"
    scratch.mkdir()
    return Context(ds=ds, tmp=scratch, images=[Path(s.filepath) for s in samples])


def test_the_corpus_is_not_empty_and_every_case_expects_a_labelkit_error():
    assert len(CASES) >= 20
    for case in CASES:
        assert issubclass(case.error, errors.LabelkitError), case.id
        assert case.names, f"{case.id}: the message must be checked for the bad value"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_specific_error_and_changes_nothing(ctx, case):
    before = dump()
    with pytest.raises(case.error) as info:
        case.run(ctx)
    message = str(info.value)
    for name in case.names:
        assert name in message, f"{case.id}: {name!r} not in message {message!r}"
    assert dump() == before, f"{case.id}: the database changed"


def test_the_dump_sees_a_change(ctx):
    """The harness can fail: one label edit changes the dump."""
    before = dump()
    sample = ctx.ds.first()
    sample["note"] = uuid.uuid4().hex
    sample.save()
    assert dump() != before


def test_readme_errors_section_lists_every_case():
    text = README.read_text()
    match = re.search(r"^## Errors\n(.*?)(^## |\Z)", text, re.S | re.M)
    assert match, "README has no '## Errors' section"
    missing = [c.id for c in CASES if f"`{c.id}`" not in match.group(1)]
    assert not missing, f"README Errors table misses: {missing}"
