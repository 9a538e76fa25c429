"""Embedding layers, as spotlight.layers: BloomEmbedding as a configuration.

limelight computes the embeddings in its engine; a BloomEmbedding here
records the settings a representation passes to it (item_embedding_layer).
"""

from limelight import _limelight

# Spotlight's hash seeds, in order (spotlight.layers.SEEDS).
SEEDS = [
    179424941, 179425457, 179425907, 179426369,
    179424977, 179425517, 179425943, 179426407,
    179424989, 179425529, 179425993, 179426447,
    179425003, 179425537, 179426003, 179426453,
    179425019, 179425559, 179426029, 179426491,
    179425027, 179425579, 179426081, 179426549,
]


class BloomEmbedding(object):
    """Item embeddings compressed by hashing (Spotlight's ``BloomEmbedding``).

    Each id is hashed with murmurhash3_32 under num_hash_functions seeds into
    a table of int(compression_ratio * num_embeddings) rows; its embedding is
    the sum of those rows. Row 0 is padding and stays zero.

    Parameters
    ----------
    num_embeddings: int
        Number of ids (the catalogue size, padding included).
    embedding_dim: int
    compression_ratio: float, optional
    num_hash_functions: int, optional
        At most len(SEEDS).
    bag: bool, optional
        Accepted for compatibility: it selects PyTorch's EmbeddingBag, which
        computes the same sums.
    padding_idx: int, optional
        Must be 0, limelight's padding id.
    """

    def __init__(self, num_embeddings, embedding_dim, compression_ratio=0.2, num_hash_functions=4,
                 bag=False, padding_idx=0):
        if num_hash_functions > len(SEEDS) or num_hash_functions < 1:
            raise ValueError('Can use at most {} hash functions ({} requested)'
                             .format(len(SEEDS), num_hash_functions))
        if padding_idx != 0:
            raise ValueError('BloomEmbedding: limelight uses padding id 0, got padding_idx={}'.format(padding_idx))
        if int(embedding_dim) < 1:
            raise ValueError('BloomEmbedding: embedding_dim must be >= 1, got {}'.format(embedding_dim))
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.compression_ratio = float(compression_ratio)
        self.num_hash_functions = int(num_hash_functions)
        self.padding_idx = padding_idx
        self._bag = bag
        self._masks = SEEDS[:self.num_hash_functions]
        # int(compression_ratio * num_embeddings), checked by the engine (at least 2 rows).
        self.compressed_num_embeddings = _limelight.bloom_compressed_rows(self.compression_ratio,
                                                                          self.num_embeddings)

    def hashes(self):
        """The (num_embeddings, num_hash_functions) int64 table rows of each id; row 0 (padding) is 0."""
        return _limelight.bloom_hash_table(self.num_embeddings, self.compressed_num_embeddings,
                                           self.num_hash_functions)

    def __repr__(self):
        return ('<BloomEmbedding (compression_ratio: {}): Embedding({}, {}, padding_idx=0)>'
                .format(self.compression_ratio, self.compressed_num_embeddings, self.embedding_dim))
