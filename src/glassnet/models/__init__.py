"""Models: ``Sequential`` and loading saved models."""
from .sequential import Sequential


def load_model(filepath, compile=True, **kwargs):
    """Load a model saved with ``model.save(path)`` (see ``glassnet.saving``)."""
    from ..saving import load_model as _load
    return _load(filepath, compile=compile, **kwargs)


def save_model(model, filepath, overwrite=True):
    from ..saving import save_model as _save
    return _save(model, filepath, overwrite=overwrite)


__all__ = ["Sequential", "load_model", "save_model"]
