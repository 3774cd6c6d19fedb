"""The Seattle weather loader: parsing, windows, the split by year."""

import numpy as np
import pytest

from keras_adrop.datasets import DataUnavailableError
from keras_adrop.datasets import seattle_weather

HEADER = "date,precipitation,temp_max,temp_min,wind,weather\n"


def _csv(days):
    """A table of `days` consecutive days from 2012-01-01, temp_max = i."""
    dates = np.datetime64("2012-01-01") + np.arange(days)
    lines = [
        f"{str(d).replace('-', '/')},{i % 3}.0,{i}.0,{-i}.0,1.5,rain\n"
        for i, d in enumerate(dates)
    ]
    return HEADER + "".join(lines)


def test_parse_reads_dates_values_and_labels():
    table = seattle_weather.parse(_csv(3))
    assert table.dates.tolist()[0].isoformat() == "2012-01-01"
    np.testing.assert_array_equal(table.values[2], [2.0, 2.0, -2.0, 1.5])
    assert table.weather.tolist() == ["rain"] * 3


def test_parse_rejects_a_table_without_the_columns():
    with pytest.raises(ValueError, match="columns"):
        seattle_weather.parse("date,temp\n2012/01/01,3.0\n")


def test_windows_read_the_past_and_forecast_the_next_days():
    table = seattle_weather.parse(_csv(10))
    x, y, dates = seattle_weather.windows(table, window=4, horizon=2)
    assert x.shape == (5, 4, 6) and y.shape == (5, 2)
    # Window 1 reads days 1-4 and forecasts the temp_max of days 5 and 6.
    np.testing.assert_array_equal(x[1, :, 1], [1, 2, 3, 4])
    np.testing.assert_array_equal(y[1], [5, 6])
    assert str(dates[1]) == "2012-01-06"
    # The season: day 0 of the year is angle 0.
    np.testing.assert_allclose(x[0, 0, 4:], [0.0, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="no window"):
        seattle_weather.windows(table, window=9, horizon=2)


def test_load_splits_by_the_year_of_the_first_forecast_day(tmp_path,
                                                          monkeypatch):
    path = tmp_path / "seattle-weather.csv"
    path.write_text(_csv(1461))  # 2012-01-01 .. 2015-12-31, as the real one
    monkeypatch.setattr(seattle_weather, "csv_path", lambda: path)
    data = seattle_weather.load(window=28, horizon=3)
    sizes = {split: len(y) for split, (x, y) in data.items()}
    assert sizes == {"train": 731 - 28, "validation": 365, "test": 365 - 2}
    # temp_max is the day index: forecast days never repeat across splits.
    first_days = np.concatenate([y[:, 0] for _, y in data.values()])
    assert len(np.unique(first_days)) == len(first_days)
    assert data["validation"][1][0, 0] == 731  # 2014-01-01


@pytest.mark.parametrize("argument", ["window", "horizon"])
def test_bad_arguments_fail_before_fetching(monkeypatch, argument):
    def no_fetch():
        raise AssertionError("fetched")

    monkeypatch.setattr(seattle_weather, "csv_path", no_fetch)
    with pytest.raises(ValueError, match=f"`{argument}` must be a positive"):
        seattle_weather.load(**{argument: 0})


def test_the_real_table_from_pypi():
    try:
        table = seattle_weather.load_table()
    except DataUnavailableError as error:
        pytest.skip(f"PyPI not reachable: {error}")
    assert len(table.dates) == 1461
    assert str(table.dates[0]) == "2012-01-01"
    assert str(table.dates[-1]) == "2015-12-31"
    assert np.all(np.diff(table.dates).astype(int) == 1)
    assert abs(float(table.values[:, 1].mean()) - 16.439) < 1e-3
    assert set(table.weather) == {"drizzle", "fog", "rain", "snow", "sun"}
