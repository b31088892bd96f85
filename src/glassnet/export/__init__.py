"""Carrying a glassnet model elsewhere: ONNX (``to_onnx``) and PyTorch (``to_torch`` / ``from_torch``).

Each converter imports its library (onnx, torch) only when called, so ``import glassnet`` stays
NumPy-only; a missing library raises an ImportError that names the extra to install:
``pip install "glassnet[onnx]"`` or ``pip install "glassnet[torch]"``. See ``docs/scaling.md``.

This module also adds the ``glassnet export MODEL --onnx FILE`` command (``add_commands``).
"""


def to_onnx(model, path=None, opset=17):
    """See ``glassnet.export.onnx.to_onnx``."""
    from .onnx import to_onnx as convert
    return convert(model, path, opset=opset)


def to_torch(model):
    """See ``glassnet.export.torch.to_torch``."""
    from .torch import to_torch as convert
    return convert(model)


def from_torch(module, input_shape):
    """See ``glassnet.export.torch.from_torch``."""
    from .torch import from_torch as convert
    return convert(module, input_shape)


def add_commands(subparsers):
    """``glassnet export MODEL --onnx FILE [--opset N]``."""
    parser = subparsers.add_parser(
        "export", help="convert a saved model to ONNX",
        description="Convert a glassnet model file to ONNX (needs: pip install \"glassnet[onnx]\"). The "
                    "ONNX input is channels last, exactly what model.predict takes.")
    parser.add_argument("model", metavar="MODEL", help="a model file written by model.save (or a .keras file)")
    parser.add_argument("--onnx", metavar="FILE", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.set_defaults(run=_export_command)


def _export_command(args):
    import os
    from ..cli import CommandError
    from ..models import load_model
    if not os.path.exists(args.model):
        raise CommandError(f"{args.model}: no such file")
    model = load_model(args.model, compile=False)
    try:
        proto = to_onnx(model, args.onnx, opset=args.opset)
    except (NotImplementedError, ValueError, ImportError) as exc:
        raise CommandError(f"cannot export {args.model}: {exc}") from None
    print(f"Wrote {args.onnx}: {len(proto.graph.node)} ONNX nodes, opset {args.opset}, input "
          f"{tuple(model.input_shape)} (channels last), output {tuple(model.output_shape)}")
    return 0


__all__ = ["to_onnx", "to_torch", "from_torch", "add_commands"]
