"""``model.summary()``: Keras 3's table, drawn with the same box characters and column widths."""


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def _shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


WIDTHS = (31, 22, 13)      # text width of the three columns (a space of padding on each side)


def summary_lines(model, line_length=None):
    widths = WIDTHS
    rows = []
    shapes = model._shapes if model.built else [None] * len(model.layers)
    for layer, shape in zip(model.layers, shapes):
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", "?" if shape is None else _shape(shape),
                     f"{params:,}" if layer.built else "0 (unbuilt)"))

    def border(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, edge, align_right_last=True):
        parts = [f" {cells[0]:<{widths[0]}} ", f" {cells[1]:<{widths[1]}} ", f" {cells[2]:>{widths[2]}} "]
        return edge + edge.join(parts) + edge

    lines = [f'Model: "{model.name}"',
             border("┏", "━", "┳", "┓"),
             row(("Layer (type)", "Output Shape", "Param #"), "┃"),
             border("┡", "━", "╇", "┩")]
    for i, cells in enumerate(rows):
        if i:
            lines.append(border("├", "─", "┼", "┤"))
        lines.append(row(cells, "│"))
    lines.append(border("└", "─", "┴", "┘"))
    trainable = sum(w.size for w in model.trainable_weights) if model.built else 0
    total = sum(w.size for w in model.weights) if model.built else 0
    itemsize = model.dtype.itemsize
    lines += [f" Total params: {total:,} ({_fmt_bytes(total * itemsize)})",
              f" Trainable params: {trainable:,} ({_fmt_bytes(trainable * itemsize)})",
              f" Non-trainable params: {total - trainable:,} ({_fmt_bytes((total - trainable) * itemsize)})"]
    return lines
