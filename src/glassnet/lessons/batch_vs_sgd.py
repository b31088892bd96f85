"""Batch, stochastic and mini-batch gradient descent on the home-prices table.

The notes' setup (the codebasics "batch vs stochastic vs mini-batch" tutorial): area and bedrooms
scaled to [0, 1] (min-max), the price too; a linear neuron price = w₁·area + w₂·bedrooms + bias,
mean squared error, start at w₁ = w₂ = 1, bias = 0, learning rate 0.01. The three kinds differ
only in how many rows each step looks at, so in glassnet they are one ``model.fit`` call with
``batch_size = 20`` (all rows: batch), ``1`` (stochastic) or ``5`` (mini-batch).
"""
import numpy as np

import glassnet as gn
from . import figure, save

EPOCHS, LEARNING_RATE = 500, 0.01
KINDS = {"batch": 20, "mini-batch (5)": 5, "stochastic": 1}


def scaled_table():
    x, y = gn.datasets.homeprices.load_data()
    x, y = x.astype(np.float64), y.astype(np.float64)
    x_min, x_max, y_min, y_max = x.min(0), x.max(0), y.min(), y.max()
    return (x - x_min) / (x_max - x_min), (y - y_min) / (y_max - y_min), (x_min, x_max, y_min, y_max)


def train(x, y, batch_size):
    gn.utils.set_random_seed(0)                     # the shuffling order of mini-batches and SGD
    model = gn.Sequential([gn.layers.Dense(1, input_shape=(2,), dtype="float64",
                                           kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer=gn.optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse")
    history = model.fit(x, y, batch_size=batch_size, epochs=EPOCHS, verbose=0)
    return model, history.history["loss"]


def run(plot=None):
    x, y, (x_min, x_max, y_min, y_max) = scaled_table()
    house = np.array([[2600.0, 4.0]])
    house_scaled = (house - x_min) / (x_max - x_min)
    print(f"Home prices: {len(x)} rows, features and price scaled to [0, 1]; {EPOCHS} epochs, "
          f"learning rate {LEARNING_RATE:g}\n")
    print(f"{'kind':<16}{'batch size':>10}{'steps':>8}{'w1':>9}{'w2':>9}{'bias':>9}{'final MSE':>11}"
          f"{'price(2600 sqft, 4 bd)':>24}")
    curves = {}
    for kind, batch_size in KINDS.items():
        model, losses = train(x, y, batch_size)
        curves[kind] = losses
        kernel, bias = model.get_weights()
        price = model.predict(house_scaled, verbose=0)[0, 0] * (y_max - y_min) + y_min
        steps = EPOCHS * -(-len(x) // batch_size)
        print(f"{kind:<16}{batch_size:>10}{steps:>8}{kernel[0, 0]:>9.4f}{kernel[1, 0]:>9.4f}{bias[0]:>9.4f}"
              f"{losses[-1]:>11.5f}{price:>24.2f}")
    print("\nMSE after 10 epochs: " + ", ".join(f"{k} {v[9]:.4f}" for k, v in curves.items()))
    print("Batch: one smooth step per epoch over all rows — fine for small data like this table.")
    print("Stochastic: one row per step — many cheap, noisy steps; for large data sets.")
    print("Mini-batch: a few rows per step — the usual compromise (Keras's default batch_size is 32).")
    if plot:
        save(draw(curves), plot)


def draw(curves):
    fig = figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for kind, losses in curves.items():
        ax.plot(np.arange(1, len(losses) + 1), losses, lw=1.8, label=kind)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost (MSE, log scale)")
    ax.set_title("Home prices: batch vs mini-batch vs stochastic gradient descent")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
