"""Initializers: limits and statistics as formulas, fans as Keras, seeding, lookup by name."""
import numpy as np
import pytest

from glassnet import initializers, utils
from glassnet.initializers import compute_fans


def test_compute_fans_dense_and_conv():
    assert compute_fans((784, 10)) == (784, 10)                 # Dense kernel (D, U)
    assert compute_fans((3, 3, 16, 32)) == (3 * 3 * 16, 3 * 3 * 32)   # conv kernel (KH, KW, C, F)
    assert compute_fans((7,)) == (7, 7)
    assert compute_fans(()) == (1, 1)


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", np.sqrt(6 / (300 + 200))),
    ("he_uniform", np.sqrt(6 / 300)),
    ("lecun_uniform", np.sqrt(3 / 300)),
])
def test_uniform_limits(name, limit):
    w = initializers.get(name)((300, 200))
    assert w.dtype == np.float32 and w.shape == (300, 200)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit                        # the limit is actually reached
    np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.02)   # std of U(-l, l) = l / sqrt(3)


@pytest.mark.parametrize("name, stddev", [
    ("glorot_normal", np.sqrt(2 / (300 + 200))),
    ("he_normal", np.sqrt(2 / 300)),
    ("lecun_normal", np.sqrt(1 / 300)),
])
def test_truncated_normal_stddev_and_truncation(name, stddev):
    w = initializers.get(name)((300, 200))
    np.testing.assert_allclose(w.std(), stddev, rtol=0.02)       # the truncated distribution has this std
    assert np.abs(w).max() <= 2 * stddev / 0.87962566103423978 * (1 + 1e-6)
    assert abs(w.mean()) < 0.05 * stddev


def test_conv_kernel_uses_receptive_field():
    w = initializers.GlorotUniform()((3, 3, 8, 16))
    assert np.abs(w).max() <= np.sqrt(6 / (9 * 8 + 9 * 16))


def test_random_normal_uniform_constant():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5)((400, 400))
    np.testing.assert_allclose([w.mean(), w.std()], [1.0, 0.5], rtol=0.01)
    u = initializers.RandomUniform(minval=2.0, maxval=3.0)((1000,))
    assert u.min() >= 2.0 and u.max() <= 3.0
    np.testing.assert_array_equal(initializers.Constant(3)((2, 2)), np.full((2, 2), 3.0))
    np.testing.assert_array_equal(initializers.get("zeros")((2,)), [0, 0])
    np.testing.assert_array_equal(initializers.get("ones")((2,)), [1, 1])


def test_dtype_float32_by_default_float64_on_request():
    for name in ["zeros", "ones", "glorot_uniform", "he_normal", "random_normal"]:
        assert initializers.get(name)((3, 2)).dtype == np.float32
        assert initializers.get(name)((3, 2), dtype="float64").dtype == np.float64
    with pytest.raises(TypeError, match="float"):
        initializers.get("ones")((2,), dtype="int32")


def test_seeded_initializer_repeats_itself():
    init = initializers.GlorotUniform(seed=5)
    np.testing.assert_array_equal(init((4, 3)), init((4, 3)))
    np.testing.assert_array_equal(init((4, 3)), initializers.GlorotUniform(seed=5)((4, 3)))
    assert not np.array_equal(init((4, 3)), initializers.GlorotUniform(seed=6)((4, 3)))


def test_unseeded_initializer_follows_global_seed():
    utils.set_random_seed(42)
    a = initializers.HeNormal()((5, 5))
    utils.set_random_seed(42)
    b = initializers.HeNormal()((5, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, initializers.HeNormal()((5, 5)))


def test_get_serialize_round_trip():
    for name in ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "zeros", "ones",
                 "random_normal", "random_uniform"]:
        init = initializers.get(name)
        again = initializers.get(initializers.serialize(init))
        assert type(again) is type(init) and again.get_config() == init.get_config()
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    rn = initializers.RandomNormal(stddev=0.1, seed=3)
    assert initializers.get(rn) is rn
    assert initializers.get(initializers.serialize(rn)).get_config() == {"mean": 0.0, "stddev": 0.1, "seed": 3}
    assert initializers.get(None) is None


def test_unknown_name_lists_valid_names_and_suggests():
    with pytest.raises(ValueError, match=r"Unknown initializer: 'he_unifrom' \(did you mean 'he_uniform'\?\).*glorot_uniform"):
        initializers.get("he_unifrom")
    with pytest.raises(TypeError, match="initializer"):
        initializers.get(3)
    with pytest.raises(ValueError, match="seed"):
        initializers.GlorotUniform(seed=-1)
