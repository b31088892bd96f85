"""Models: ``Sequential`` and loading saved models."""
from .sequential import Sequential


def load_model(filepath, compile=True, **kwargs):
    """Load a model saved with ``model.save(path)`` (see ``glassnet.saving``), or a Keras 3 ``.keras`` file
    of a Sequential model (see ``glassnet.keras_files``; needs h5py)."""
    if str(filepath).endswith(".keras"):
        from ..keras_files import load_keras_model
        return load_keras_model(filepath)
    from ..saving import load_model as _load
    return _load(filepath, compile=compile, **kwargs)


def save_model(model, filepath, overwrite=True):
    from ..saving import save_model as _save
    return _save(model, filepath, overwrite=overwrite)


__all__ = ["Sequential", "load_model", "save_model"]
