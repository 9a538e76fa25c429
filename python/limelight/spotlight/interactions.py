"""Interactions and SequenceInteractions, as spotlight.interactions.

``to_sequence`` cuts each user's time-ordered history into windows exactly
as Spotlight does: windows end at n, n - step, n - 2 step, ... (> 0), newest
first, users ascending, left-padded with zeros.
"""

import numpy as np


class Interactions(object):
    """User-item interactions (Spotlight's ``Interactions``).

    Parameters
    ----------
    user_ids, item_ids: arrays of np.int32
    ratings: array of np.float32, optional
    timestamps: array of np.int32, optional
    weights: array of np.float32, optional
    num_users, num_items: int, optional
        Default to the largest id plus one.
    """

    def __init__(self, user_ids, item_ids, ratings=None, timestamps=None, weights=None,
                 num_users=None, num_items=None):
        user_ids = np.asarray(user_ids)
        item_ids = np.asarray(item_ids)
        for name, ids in (("user_ids", user_ids), ("item_ids", item_ids)):
            if ids.ndim != 1:
                raise ValueError("Interactions: {} must be one-dimensional, got shape {}".format(name, ids.shape))
            if ids.size and not np.issubdtype(ids.dtype, np.integer):
                raise TypeError("Interactions: {} must hold integers, got dtype {}".format(name, ids.dtype))
            if ids.size and ids.min() < 0:
                raise ValueError("Interactions: {} holds the negative id {}".format(name, int(ids.min())))
        if len(user_ids) == 0:
            raise ValueError("Interactions: no interactions")

        self.num_users = num_users or int(user_ids.max() + 1)
        self.num_items = num_items or int(item_ids.max() + 1)

        self.user_ids = user_ids
        self.item_ids = item_ids
        self.ratings = ratings
        self.timestamps = timestamps
        self.weights = weights

        self._check()

    def __repr__(self):
        return ("<Interactions dataset ({} users x {} items x {} interactions)>"
                .format(self.num_users, self.num_items, len(self)))

    def __len__(self):
        return len(self.user_ids)

    def _check(self):
        if self.user_ids.max() >= self.num_users:
            raise ValueError("Maximum user id greater than declared number of users.")
        if self.item_ids.max() >= self.num_items:
            raise ValueError("Maximum item id greater than declared number of items.")
        n = len(self.user_ids)
        for name, value in (("item IDs", self.item_ids), ("ratings", self.ratings),
                            ("timestamps", self.timestamps), ("weights", self.weights)):
            if value is not None and len(value) != n:
                raise ValueError("Invalid {} dimensions: length must be equal to number of interactions"
                                 .format(name))

    def tocoo(self):
        """A scipy.sparse COO matrix (users x items) of the ratings (ones without ratings)."""
        try:
            import scipy.sparse as sp
        except ImportError as e:
            raise ImportError("Interactions.tocoo needs scipy, which limelight does not require; "
                              "install it with pip install scipy") from e
        data = self.ratings if self.ratings is not None else np.ones(len(self))
        return sp.coo_matrix((data, (self.user_ids, self.item_ids)), shape=(self.num_users, self.num_items))

    def tocsr(self):
        """A scipy.sparse CSR matrix (users x items)."""
        return self.tocoo().tocsr()

    def to_sequence(self, max_sequence_length=10, min_sequence_length=None, step_size=None):
        """Each user's items in timestamp order, as rows of max_sequence_length.

        Interactions are sorted stably by (user, timestamp). For a user with n
        items, windows end at n, n - step_size, ... while > 0, each holding up
        to max_sequence_length items, left-padded with 0, newest first.
        step_size defaults to max_sequence_length. With min_sequence_length m,
        only the rows whose column -m is not padding are kept.
        """
        if self.timestamps is None:
            raise ValueError("Cannot convert to sequences, timestamps not available.")
        if 0 in self.item_ids:
            raise ValueError("0 is used as an item id, conflicting with the sequence padding value.")
        if int(max_sequence_length) < 1:
            raise ValueError("to_sequence: max_sequence_length must be >= 1, got {}".format(max_sequence_length))
        if step_size is None:
            step_size = max_sequence_length
        if int(step_size) < 1:
            raise ValueError("to_sequence: step_size must be >= 1, got {}".format(step_size))
        length, step = int(max_sequence_length), int(step_size)

        order = np.lexsort((self.timestamps, self.user_ids))
        users = self.user_ids[order]
        items = self.item_ids[order]
        unique_users, starts, counts = np.unique(users, return_index=True, return_counts=True)

        # Window r of a user ends (exclusive) at count - r * step, relative to its first item.
        windows = -(-counts // step)
        row_user = np.repeat(np.arange(len(unique_users)), windows)
        first_row = np.cumsum(windows) - windows
        window_index = np.arange(len(row_user)) - first_row[row_user]
        ends = counts[row_user] - window_index * step
        offsets = ends[:, None] - length + np.arange(length)[None, :]  # positions within the user
        valid = offsets >= 0
        positions = starts[row_user][:, None] + np.where(valid, offsets, 0)
        sequences = np.where(valid, items[positions], 0).astype(np.int32)
        sequence_users = unique_users[row_user].astype(np.int32)

        if min_sequence_length is not None:
            long_enough = sequences[:, -min_sequence_length] != 0
            sequences = sequences[long_enough]
            sequence_users = sequence_users[long_enough]

        return SequenceInteractions(sequences, user_ids=sequence_users, num_items=self.num_items)


class SequenceInteractions(object):
    """Interactions as a (num_sequences, max_sequence_length) matrix of item ids, left-padded with 0."""

    def __init__(self, sequences, user_ids=None, num_items=None):
        sequences = np.asarray(sequences)
        if sequences.ndim != 2:
            raise ValueError("SequenceInteractions: sequences must be (num_sequences, max_sequence_length), "
                             "got shape {}".format(sequences.shape))
        self.sequences = sequences
        self.user_ids = user_ids
        self.max_sequence_length = sequences.shape[1]
        if num_items is None:
            self.num_items = int(sequences.max() + 1)
        else:
            self.num_items = num_items

    def __repr__(self):
        num_sequences, sequence_length = self.sequences.shape
        return ("<Sequence interactions dataset ({} sequences x {} sequence length)>"
                .format(num_sequences, sequence_length))
