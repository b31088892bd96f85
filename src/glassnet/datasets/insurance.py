"""The notes' insurance table: did a person buy insurance, given age and affordability?

28 rows, shipped in the package (``data/insurance_data.csv``, from the codebasics deep-learning
tutorial). Columns: ``age`` (18-62), ``affordibility`` (0/1; the source's spelling) and the
target ``bought_insurance`` (0/1, 14 positives). The tutorial divides age by 100 before training.
"""
from ._tabular import read_table

COLUMNS = ("age", "affordibility", "bought_insurance")
FEATURE_NAMES = COLUMNS[:2]


def load_data():
    """Return ``(x, y)``: x float32 (28, 2) = [age, affordibility], y float32 (28,) = bought_insurance.

    Example:
        >>> x, y = load_data()
        >>> x.shape, y.shape, x[0].tolist(), float(y.sum())
        ((28, 2), (28,), [22.0, 1.0], 14.0)
    """
    table = read_table("insurance_data.csv", COLUMNS, 28)
    return table[:, :2], table[:, 2]
