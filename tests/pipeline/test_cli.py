"""`rarespecies run` flags that are checked before anything runs."""
import os

from pipeline import cli


def test_beam_runner_without_its_flags_fails_before_the_run(tmp_path, capsys):
    (tmp_path / "data" / "train").mkdir(parents=True)
    code = cli.main(["run", "--data-root", str(tmp_path / "data"), "--output-dir",
                     str(tmp_path / "out"), "--beam-runner", "DataflowRunner",
                     "--beam-arg=--project=p"])
    assert code == 2
    err = capsys.readouterr().err
    assert "DataflowRunner needs --region, --temp_location" in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_a_local_run_refuses_a_remote_output_dir(tmp_path, capsys):
    (tmp_path / "data" / "train").mkdir(parents=True)
    code = cli.main(["run", "--data-root", str(tmp_path / "data"), "--output-dir", "gs://b/out"])
    assert code == 2
    assert "a local run keeps ML Metadata in a local SQLite file" in capsys.readouterr().err
    assert not os.path.exists("gs:")  # not turned into a local folder named gs:
