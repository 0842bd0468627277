"""The ingest step records a refused interval, and a later good ingest lifts the record."""

from datetime import date

import pandas as pd
import pytest

from mlops.errors import BadSourceFile
from mlops.ingest import ingest_interval
from mlops.lake import Lake
from mlops.sources import build_source
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource

IV = Interval.days(date(2024, 1, 10))


@pytest.mark.chaos
def test_a_refused_interval_is_recorded_and_lifted_by_a_good_ingest(settings, synthetic_config, tmp_path):
    folder = tmp_path / "upstream"
    folder.mkdir()
    config = synthetic_config.model_copy(update={"source": synthetic_config.source.model_copy(update={"kind": "files", "options": {"path": str(folder)}})})
    df = SyntheticSource(rows_per_day=300).read(IV)
    (folder / "events-2024-01-10.parquet").write_text(df.to_csv(index=False))  # a CSV under a Parquet name
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    with pytest.raises(BadSourceFile, match=r"events-2024-01-10\.parquet \(\d+ bytes\) cannot be read as Parquet: it holds CSV"):
        ingest_interval(config, settings, IV, build_source(config, settings))
    record = lake.quarantine_record(IV)
    assert record["reason"] == "source refused" and record["error"] == "BadSourceFile"
    assert record["quarantined_to"].startswith(str(settings.quarantine_dir / config.name / "source-files"))
    df.to_parquet(folder / "events-2024-01-10.parquet")  # the upstream fixes it
    info = ingest_interval(config, settings, IV, build_source(config, settings))
    assert info.rows == 300 and info.provenance["files"] == {"events-2024-01-10.parquet": 300}
    assert lake.quarantine_record(IV) is None and lake.info(IV).provenance == info.provenance
    assert isinstance(lake.read(IV), pd.DataFrame)
