"""A hand-made Dataset and split whose graph is worked out by hand in test_build.py.

Users 10, 20, 30 rate; 40 only wants to read; 50 rated item 500 but the (simulated) min-count
filter removed both, so neither gets a node. Item 400 is in the catalogue but unrated.
"""

import numpy as np
import pandas as pd
import pytest

from hetrec.data.dataset import Attribute, Dataset



def attr(node_type, relation, reverse, owner, rows):
    ids, values, weights = zip(*rows)
    return Attribute(node_type, relation, reverse, owner,
                     pd.DataFrame({"id": np.array(ids, np.int64), "value": list(values),
                                   "weight": np.array(weights, np.float32)}))


@pytest.fixture
def tiny():
    inter = pd.DataFrame({
        "user_id": np.array([10, 10, 10, 20, 20, 30, 30, 30, 50], np.int64),
        "item_id": np.array([100, 200, 300, 200, 100, 300, 200, 100, 500], np.int64),
        "rating": np.array([4, 1, 2, 5, 3, 2, 4, 5, 1], np.float32),
        "order": np.array([1, 2, 3, 1, 2, 1, 2, 3, 1], np.int64),
    })
    items = pd.DataFrame({"item_id": np.array([100, 200, 300, 400, 500], np.int64),
                          "title": ["A", "B", "C", "D", "E"], "authors": ["b", "a", "a", "c", "d"]})
    users = pd.DataFrame({"user_id": np.array([10, 20, 30, 40, 50], np.int64)})
    attributes = [
        attr("author", "written_by", "wrote", "item", [(100, "b", 1), (200, "a", 1), (300, "a", 1), (400, "c", 1),
                                                       (500, "d", 1)]),
        attr("tag", "has_tag", "tag_of", "item", [(100, "x", 5), (100, "y", 2), (200, "x", 3), (300, "y", 4)]),
        attr("gender", "has_gender", "gender_of", "user", [(10, "M", 1), (20, "F", 1), (30, "M", 1), (40, "F", 1),
                                                           (50, "M", 1)]),
    ]
    to_read = pd.DataFrame({"user_id": np.array([10, 10, 20, 30, 40, 50, 10], np.int64),
                            "item_id": np.array([300, 400, 300, 200, 100, 100, 400], np.int64)})
    ds = Dataset(name="tiny", item_type="book", interactions=inter, items=items, users=users,
                 attributes=attributes, behaviours={"to_read": to_read}, sources={"ratings.csv": "abc"},
                 stats={"duplicates_dropped": 0})
    # the split by hand: user 50 / item 500 filtered out; 10 and 30 leave-one-out; 20 has only 2 -> all train
    split = inter.iloc[:8].copy()
    split["split"] = ["train", "valid", "test", "train", "train", "train", "valid", "test"]
    return ds, split
