"""glassnet.zoo: the course's models have Keras's layer shapes, parameter counts and compile settings."""
import numpy as np
import pytest

from glassnet import optimizers, zoo

# (builder, per-layer output shapes as Keras's summary() prints them, parameters, optimizer)
EXPECTED = {
    "mnist_notes": ([(None, 10)], 7_850, optimizers.Adam),
    "mnist_hidden": ([(None, 100), (None, 10)], 79_510, optimizers.Adam),
    "mnist_cnn": ([(None, 26, 26, 30), (None, 13, 13, 30), (None, 5070), (None, 100), (None, 10)],
                  300 + 507_100 + 1_010, optimizers.Adam),
    "mnist_convnet": ([(None, 26, 26, 32), (None, 13, 13, 32), (None, 11, 11, 64), (None, 5, 5, 64),
                       (None, 1600), (None, 10)], 320 + 18_496 + 16_010, optimizers.Adam),
    "cifar10_cnn": ([(None, 30, 30, 32), (None, 15, 15, 32), (None, 13, 13, 64), (None, 6, 6, 64),
                     (None, 2304), (None, 64), (None, 10)], 167_562, optimizers.Adam),
    "cifar10_ann": ([(None, 3072), (None, 3000), (None, 1000), (None, 10)], 12_230_010, optimizers.SGD),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_shapes_parameters_and_compile(name):
    shapes, params, optimizer = EXPECTED[name]
    model = getattr(zoo, name)()
    assert model._shapes == shapes
    assert model.count_params() == params
    assert isinstance(model.optimizer, optimizer)
    assert getattr(model.loss, "name", model.loss) == "sparse_categorical_crossentropy"


def test_cifar10_cnn_parameters_per_layer():
    """896 = 3·3·3·32 + 32, 18,496 = 3·3·32·64 + 64, 147,520 = 2304·64 + 64, 650 = 64·10 + 10."""
    model = zoo.cifar10_cnn()
    assert [sum(w.size for w in layer.weights) for layer in model.layers] == [896, 0, 18_496, 0, 0, 147_520, 650]


def test_the_ann_uses_keras_sgd_defaults():
    opt = zoo.cifar10_ann().optimizer
    assert opt.learning_rate == pytest.approx(0.01) and opt.momentum == 0.0


@pytest.mark.parametrize("dataset, name, shape", [("mnist", "notes", (784,)), ("mnist", "hidden", (784,)),
                                                  ("mnist", "cnn", (28, 28, 1)), ("cifar10", "cnn", (32, 32, 3)),
                                                  ("cifar10", "ann", (32, 32, 3))])
def test_build_and_input_shape_agree(dataset, name, shape):
    model = zoo.build(dataset, name)
    assert model.input_shape == (None,) + shape == (None,) + zoo.input_shape(dataset, name)
    assert model.predict(np.zeros((2,) + shape, np.float32), verbose=0).shape == (2, 10)


def test_build_defaults_and_errors():
    assert zoo.build("cifar10").count_params() == 167_562
    assert zoo.build("mnist").count_params() == 7_850
    with pytest.raises(ValueError, match=r"No model 'ann' for mnist: expected one of \['cnn', 'hidden', 'notes'\]"):
        zoo.build("mnist", "ann")
    with pytest.raises(ValueError, match="Unknown dataset 'svhn'"):
        zoo.build("svhn")
