"""The neuron: y = Σ wᵢxᵢ + b, then the sigmoid turns y into a probability.

The notes' example: will a person buy insurance, given age (x₁), income in thousands (x₂) and
education (x₃: 1 = college)? The neuron's weights are the notes' ``y = 0.042·x₁ + 0.008·x₂ + 0.2·x₃ − 1.53``.
Step 1 is a Dense layer with one unit (a weighted sum plus a bias); step 2 is the sigmoid.
The three people are examples to run the formula on.
"""
import numpy as np

import glassnet as gn

WEIGHTS, BIAS = [0.042, 0.008, 0.2], -1.53          # the notes' neuron
PEOPLE = np.array([[22, 25, 0], [35, 40, 1], [58, 80, 1]], dtype=np.float64)   # age, income, education


def run(plot=None):
    neuron = gn.layers.Dense(1, input_shape=(3,), dtype="float64")      # step 1: y = x @ w + b
    neuron.build((None, 3))
    neuron.set_weights([np.array(WEIGHTS).reshape(3, 1), np.array([BIAS])])
    kernel, bias = neuron.get_weights()
    w, b = kernel[:, 0], bias[0]
    print("The neuron: y = " + " + ".join(f"{wi:g}·x{i + 1}" for i, wi in enumerate(w))
          + f" {'−' if b < 0 else '+'} {abs(b):g}")
    print("x1 = age, x2 = income (thousands), x3 = education (1 = college)\n")

    y = neuron(PEOPLE)[:, 0]                                           # the Dense layer computes Σ wᵢxᵢ + b
    p = gn.activations.sigmoid(y)                                       # step 2: σ(y) = 1 / (1 + e^−y)
    for person, x, yi, pi in zip("ABC", PEOPLE, y, p):
        terms = " + ".join(f"{wi:g}×{xi:g}" for wi, xi in zip(w, x))
        print(f"Person {person}: age {x[0]:g}, income {x[1]:g}, education {x[2]:g}")
        print(f"  step 1: y = {terms} {'−' if b < 0 else '+'} {abs(b):g} = {yi:.4f}")
        print(f"  step 2: σ(y) = 1 / (1 + e^{-yi:.4f}) = {pi:.4f}  ->  "
              f"{'buys' if pi > 0.5 else 'does not buy'} (threshold 0.5)")
    print("\nThe sum alone can be any number; the sigmoid squeezes it into (0, 1), a probability.")
