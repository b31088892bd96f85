"""Bangalore home prices: the table of the batch / stochastic / mini-batch gradient-descent lesson.

20 rows, shipped in the package (``data/homeprices_banglore.csv``, from the codebasics
deep-learning tutorial). Columns: ``area`` (square feet), ``bedrooms`` and the target ``price``
(in lakh rupees). The lesson scales both features and the price to [0, 1] with min-max scaling.
"""
from ._tabular import read_table

COLUMNS = ("area", "bedrooms", "price")
FEATURE_NAMES = COLUMNS[:2]


def load_data():
    """Return ``(x, y)``: x float32 (20, 2) = [area, bedrooms], y float32 (20,) = price.

    Example:
        >>> x, y = load_data()
        >>> x.shape, y.shape, x[0].tolist(), round(float(y[0]), 2)
        ((20, 2), (20,), [1056.0, 2.0], 39.07)
    """
    table = read_table("homeprices_banglore.csv", COLUMNS, 20)
    return table[:, :2], table[:, 2]
