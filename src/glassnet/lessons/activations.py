"""Activation functions: step, sigmoid, tanh, ReLU and leaky ReLU max(0.1z, z), with their derivatives.

The values and the derivatives come from ``glassnet.plots.activation_curves``, which evaluates the
functions of ``glassnet.activations`` and lets autograd compute f'(z): the very slopes training uses.
"""
from glassnet import plots
from . import save

Z = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]


def run(plot=None):
    curves = plots.activation_curves(Z)
    print("z          " + "".join(f"{z:>8g}" for z in Z))
    for name, (_, f, df) in curves.items():
        label = name.split(" max")[0]
        print(f"{label:<11}" + "".join(f"{v:8.4f}" for v in f))
        print(f"{label + chr(39):<11}" + "".join(f"{v:8.4f}" for v in df))
    s = dict((k, v) for k, v in curves.items())
    sig_slope = s["sigmoid"][2]
    print(f"\nThe sigmoid's slope is at most {sig_slope.max():.4f} (at z = {Z[sig_slope.argmax()]:g}) "
          f"and only {sig_slope[0]:.4f} at z = {Z[0]:g}:")
    print("deep stacks of sigmoids pass back vanishing gradients.")
    print(f"ReLU's slope is {s['ReLU'][2][-1]:g} for every z > 0 and costs one comparison; leaky ReLU "
          f"keeps a slope of {s['leaky ReLU max(0.1z, z)'][2][0]:g} below 0.")
    print("The step function's slope is 0 wherever it exists: gradient descent cannot learn through it.")
    print("\nThe notes' advice: sigmoid in the output layer of a yes/no classifier (a probability);")
    print("ReLU as the default for hidden layers; tanh (centred on 0) over sigmoid in hidden layers;")
    print("leaky ReLU when many ReLU units die (output 0 for every input).")
    if plot:
        save(draw(), plot)



def draw():
    """The library's figure: each f(z) with its autograd derivative, and all five together."""
    return plots.plot_activations()
