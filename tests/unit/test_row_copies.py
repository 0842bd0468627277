"""``ExpectRowsToBeDistinct``: the hashed whole-row check gives GX's own verdict, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops.validation.expectations import copied_rows


def mixed_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-10", periods=n, freq="min", tz="UTC"),
            "x": rng.normal(size=n).round(1),  # coarse: equal values across different rows
            "n": rng.integers(0, 3, n),
            "s": pd.Series(rng.choice(["a", "b", None], n), dtype="str"),
            "c": pd.Categorical(rng.choice(["u", "v"], n)),
            "b": rng.integers(0, 2, n).astype(bool),
        }
    )
    df.loc[rng.random(n) < 0.1, "x"] = np.nan
    return df


@pytest.mark.parametrize("seed", range(5))
def test_it_marks_the_same_rows_as_pandas_duplicated(seed):
    df = mixed_frame(400, seed)
    rng = np.random.default_rng(seed)
    copies = df.iloc[rng.integers(0, len(df), 30)]  # some rows once more, some twice or more
    both = pd.concat([df, copies, df.iloc[:5].drop(columns="ts")], ignore_index=True)  # partial rows: not copies of whole rows
    for frame in (both, both.drop(columns="ts"), both[["n", "b"]]):  # from few copies to nearly all rows copied
        assert copied_rows(frame).tolist() == frame.duplicated(keep=False).tolist()


def test_rows_whose_hashes_collide_are_compared_value_by_value():
    # pandas hashes an object column through its text: 1 and "1" hash alike, yet differ.
    frame = pd.DataFrame({"k": pd.Series([1, "1", 2, 2], dtype=object)})
    hashes = pd.util.hash_pandas_object(frame, index=False)
    assert hashes[0] == hashes[1]
    assert copied_rows(frame).tolist() == [False, False, True, True]


def test_an_empty_frame_has_no_copies():
    assert copied_rows(pd.DataFrame({"a": []})).tolist() == []


def test_the_expectation_gives_gxs_own_result():
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from mlops.validation.expectations import ExpectRowsToBeDistinct

    df = mixed_frame(300, 7)
    df = pd.concat([df, df.iloc[:4], df.iloc[:2]], ignore_index=True)  # 10 of 306 rows are copies
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b").get_batch(batch_parameters={"dataframe": df})
    )
    columns = list(df.columns)
    for mostly in (1.0, 0.98, 0.95):
        ours = batch.validate(ExpectRowsToBeDistinct(column_list=columns, mostly=mostly), result_format="SUMMARY")
        theirs = batch.validate(gxe.ExpectCompoundColumnsToBeUnique(column_list=columns, mostly=mostly), result_format="SUMMARY")
        assert ours.success == theirs.success
        assert repr(ours.result) == repr(theirs.result)  # the same counts and examples (nan != nan, so compared as text)
        assert ours.result["unexpected_count"] == 10
    assert [ours.success for ours in [batch.validate(ExpectRowsToBeDistinct(column_list=columns, mostly=m)) for m in (0.98, 0.95)]] == [False, True]
