"""The webservice's answers in chunks (``compute.answers.text_chunks``): rows numbered from
1 across chunks and across the batches of dicts a chunk is built from, fields absent from a
row counted wherever the row falls."""

from __future__ import annotations

from toolbox_cli.compute.answers import text_chunks


def test_chunks_of_size_rows_built_batch_dicts_at_a_time() -> None:
    rows = [{"a": str(i), "b": i} for i in range(1, 13)]
    del rows[6]["b"]  # row 7: in the second chunk, second batch of it
    del rows[10]["a"]  # row 11: in the last, short chunk
    chunks = list(text_chunks(iter(rows), ["a", "b"], size=5, batch=2))
    assert [(c.first, c.frame.height) for c in chunks] == [(1, 5), (6, 5), (11, 2)]
    assert [c.absent for c in chunks] == [{}, {"b": 1}, {"a": 1}]
    assert chunks[1].frame["b"].to_list() == ["6", None, "8", "9", "10"]
    assert [v for c in chunks for v in c.frame["a"].to_list()] == \
        [str(i) for i in range(1, 11)] + [None, "12"]


def test_an_empty_answer_has_no_chunk() -> None:
    assert list(text_chunks(iter([]), ["a"], size=5)) == []


def test_a_batch_never_crosses_a_chunk() -> None:
    rows = [{"a": i} for i in range(7)]
    assert [c.frame.height for c in text_chunks(iter(rows), ["a"], size=3, batch=2)] == [3, 3, 1]
