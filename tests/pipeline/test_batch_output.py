"""pipeline/cli/batch_output.py: what a rerun counts as done, after a run cut short."""
import json

from pipeline.cli import batch_output


def test_a_line_cut_short_is_not_done_and_is_dropped(tmp_path):
    out = tmp_path / "r.csv"
    with batch_output.Writer(str(out)) as writer:
        for name in ("a.jpg", "b.jpg"):
            writer.write({"path": name, "label": "Puffin",
                          "predictions": [{"species": "Puffin", "score": 0.9}]})
    # Interrupted while writing c.jpg's row: its path field is whole, the row is not.
    out.write_text(out.read_text() + "c.jpg,Puf")
    assert batch_output.done_paths(str(out)) == {"a.jpg", "b.jpg"}
    with batch_output.Writer(str(out)) as writer:
        writer.write({"path": "c.jpg", "label": "unknown",
                      "predictions": [{"species": "Robin", "score": 0.3}]})
    assert [line.split(",")[0] for line in out.read_text().splitlines()] == [
        "path", "a.jpg", "b.jpg", "c.jpg"]

    lines = tmp_path / "r.jsonl"
    lines.write_text(json.dumps({"path": "a.jpg"}) + "\n" + '{"path": "b.jpg", "lab')
    assert batch_output.done_paths(str(lines)) == {"a.jpg"}
