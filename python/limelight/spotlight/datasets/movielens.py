"""MovieLens, as spotlight.datasets.movielens, read from a local copy (nothing is downloaded).

The data are the files GroupLens distributes: a folder holding u.data
(100K), ratings.dat (1M, 10M) or ratings.csv (20M). The folder is the
``path`` argument, else $LIMELIGHT_MOVIELENS_<VARIANT> (e.g.
LIMELIGHT_MOVIELENS_100K), else $LIMELIGHT_DATA/movielens-<variant lower case>.
As in Spotlight, ids are the files' own (so num_items is the largest movie id
plus one), ratings are float32 and timestamps int32.
"""

import os

import numpy as np

from limelight.spotlight.interactions import Interactions

VARIANTS = ('100K', '1M', '10M', '20M')

_FILES = {'100K': ('u.data', '\t', 0), '1M': ('ratings.dat', '::', 0),
          '10M': ('ratings.dat', '::', 0), '20M': ('ratings.csv', ',', 1)}


def _folder(variant, path):
    if path is not None:
        return path
    env = os.environ.get('LIMELIGHT_MOVIELENS_' + variant)
    if env:
        return env
    root = os.environ.get('LIMELIGHT_DATA')
    if root:
        return os.path.join(root, 'movielens-' + variant.lower())
    raise ValueError('get_movielens_dataset: limelight does not download data; pass path= (the folder holding '
                     '{}) or set LIMELIGHT_MOVIELENS_{} or LIMELIGHT_DATA'.format(_FILES[variant][0], variant))


def _read(file_name, separator, header_rows):
    user_ids, item_ids, ratings, timestamps = [], [], [], []
    with open(file_name, 'r', encoding='latin-1') as f:
        for line_number, line in enumerate(f, start=1):
            if line_number <= header_rows or not line.strip():
                continue
            fields = line.rstrip('\r\n').split(separator)
            try:
                if len(fields) != 4:
                    raise ValueError('{} fields'.format(len(fields)))
                user_ids.append(int(fields[0]))
                item_ids.append(int(fields[1]))
                ratings.append(float(fields[2]))
                timestamps.append(int(fields[3]))
            except ValueError as e:
                raise ValueError('{}:{}: expected user, item, rating, timestamp: {}'
                                 .format(file_name, line_number, e)) from None
    if not user_ids:
        raise ValueError('{}: no interactions'.format(file_name))
    return (np.array(user_ids, dtype=np.int32), np.array(item_ids, dtype=np.int32),
            np.array(ratings, dtype=np.float32), np.array(timestamps, dtype=np.int32))


def get_movielens_dataset(variant='100K', path=None):
    """The MovieLens ratings as Interactions (user ids, item ids, ratings, timestamps)."""
    if variant not in VARIANTS:
        raise ValueError('Variant must be one of {}, got {}.'.format(VARIANTS, variant))
    folder = _folder(variant, path)
    file_name, separator, header_rows = _FILES[variant]
    full = folder if os.path.isfile(folder) else os.path.join(folder, file_name)
    if not os.path.isfile(full):
        raise ValueError('get_movielens_dataset: {} does not exist (MovieLens {} ships {})'
                         .format(full, variant, file_name))
    user_ids, item_ids, ratings, timestamps = _read(full, separator, header_rows)
    return Interactions(user_ids, item_ids, ratings=ratings, timestamps=timestamps)
