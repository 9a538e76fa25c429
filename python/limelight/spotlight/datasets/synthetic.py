"""Synthetic sequential data, as spotlight.datasets.synthetic.

The same RandomState gives the same data as the reference: the draws are the
same numpy calls in the same order.
"""

import numpy as np

from limelight.spotlight.interactions import Interactions


def _doubly_stochastic_transitions(num_states, concentration_parameter, random_state, atol=0.001):
    # Dirichlet rows, then alternate column and row normalisation (at most 100 rounds).
    matrix = random_state.dirichlet(np.repeat(concentration_parameter, num_states), num_states)
    for _ in range(100):
        if (np.all(np.abs(1.0 - matrix.sum(axis=0)) < atol) and
                np.all(np.abs(1.0 - matrix.sum(axis=1)) < atol)):
            break
        matrix /= matrix.sum(axis=0)
        matrix /= matrix.sum(1)[:, np.newaxis]
    return matrix


def _markov_chain(num_steps, transitions, order, random_state):
    # Each next state: inverse CDF of one uniform draw on the mean of the last `order` states' rows.
    num_states = transitions.shape[0]
    cumulative = np.cumsum(transitions, axis=1)
    draws = random_state.rand(num_steps)
    state = random_state.randint(num_states, size=order, dtype=np.int64)
    out = np.empty(num_steps, dtype=np.int32)
    for step, draw in enumerate(draws):
        row = cumulative[state].mean(axis=0)
        next_state = min(num_states - 1, np.searchsorted(row, draw))
        state[:-1] = state[1:]
        state[-1] = next_state
        out[step] = next_state
    return out


def generate_sequential(num_users=100, num_items=1000, num_interactions=10000,
                        concentration_parameter=0.1, order=3, random_state=None):
    """Interactions from an order-n Markov chain over num_items - 1 states (item id = state + 1).

    Lower concentration_parameter values give more predictable sequences. User
    ids are sorted uniform draws, so each user's interactions are consecutive;
    timestamps are 0, 1, 2, ...
    """
    if int(num_items) < 2:
        raise ValueError("generate_sequential: num_items must be >= 2 (padding and one item), got {}"
                         .format(num_items))
    if int(num_users) < 1 or int(num_interactions) < 1 or int(order) < 1:
        raise ValueError("generate_sequential: num_users, num_interactions and order must be >= 1")
    if random_state is None:
        random_state = np.random.RandomState()
    transitions = _doubly_stochastic_transitions(num_items - 1, concentration_parameter, random_state)
    user_ids = np.sort(random_state.randint(0, num_users, num_interactions, dtype=np.int32))
    item_ids = _markov_chain(num_interactions, transitions, order, random_state) + 1
    timestamps = np.arange(len(user_ids), dtype=np.int32)
    ratings = np.ones(len(user_ids), dtype=np.float32)
    return Interactions(user_ids, item_ids, ratings=ratings, timestamps=timestamps,
                        num_users=num_users, num_items=num_items)
