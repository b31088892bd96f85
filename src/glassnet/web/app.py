"""The web app of ``glassnet serve`` (Starlette): the page, ``GET /api/models``, ``POST /api/predict``.

    GET  /                 the page (static/index.html; style.css and app.js under /static/)
    GET  /api/models       [{"name", "kind", "description", "input_shape", "params", "test_accuracy",
                             "layers": [{"name", "class_name", "activation", "output_shape"}]}, ...]
    POST /api/predict      ?model=NAME (default: the first model)
        body image/png or image/jpeg           a picture of one digit, prepared as MNIST's digits were
             multipart/form-data, field image  the same, as a form (``curl -F image=@digit.png``) sends it
             application/json                  [784 values in [0, 1]] or {"input": [...]}: the network input;
                                               {"image": [[gray, ...], ...]}: a picture (the page's canvas)
        ->   {"model", "label", "probability", "probabilities": [10], "scores": [10],
              "input": 28 x 28, "layers": [{"name", "class_name", "activation", "shape", "values"}],
              "inference_ms"}

Errors are ``{"error": "one line"}`` with a 4xx status: 400 malformed, 404 unknown model or path,
405 wrong method, 413 body over 1 MB or picture too large, 415 content type, 422 well-formed but
unusable (a blank picture, 783 values). The three static files are read into memory at start-up:
no request can make the server open a file.
"""
import pathlib

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .inference import RequestError, digit_from_image, digit_from_json, load_models, parse_json

MAX_BODY = 2**20                                   # 1 MB: a request body may not be larger
STATIC = pathlib.Path(__file__).parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def error(status, message):
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


async def read_body(request):
    """The whole body, at most ``MAX_BODY`` bytes (checked on the declared length and while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestError(413, f"the body is {int(declared):,} bytes; expected at most {MAX_BODY:,} (1 MB)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestError(413, f"the body is over {MAX_BODY:,} bytes (1 MB), the most this server reads")
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_image(request, body):
    """The bytes of the ``image`` field of a multipart form (the body is already read and capped)."""
    async def stream():
        yield body
    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=8).parse()
    except Exception as exc:                                    # MultiPartException, malformed boundaries
        raise RequestError(400, f"the multipart form cannot be read ({exc})") from None
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        raise RequestError(400, "expected a multipart form with a file field named 'image'")
    return await upload.read()


def create_app(served):
    """The Starlette app serving ``served`` ({name: ServedModel}, e.g. ``inference.load_models()``)."""
    pages = {name: (STATIC / name).read_bytes() for name in ("index.html", "style.css", "app.js")}
    default = next(iter(served))

    def static_file(name):
        async def endpoint(request):
            return Response(pages[name], media_type=_TYPES[pathlib.Path(name).suffix],
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})
        return endpoint

    async def list_models(request):
        return JSONResponse({"default": default, "models": [m.info() for m in served.values()]},
                            headers=SECURITY_HEADERS)

    async def predict(request):
        try:
            name = request.query_params.get("model", default)
            if name not in served:
                raise RequestError(404, f"no model named {name[:40]!r}; the models are {', '.join(served)}")
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in ("application/json", "image/png", "image/jpeg", "multipart/form-data"):
                raise RequestError(415, f"content type {kind[:60] or 'missing'!r} is not accepted; send "
                                        "application/json, image/png, image/jpeg or multipart/form-data")
            body = await read_body(request)
            if kind == "application/json":
                obj = parse_json(body)
                if isinstance(obj, dict) and "image" in obj:                  # a picture: to_mnist
                    digit = await run_in_threadpool(digit_from_json, obj)    # may take 100 ms at 1 MB
                else:
                    digit = digit_from_json(obj)
            else:
                data = await _form_image(request, body) if kind == "multipart/form-data" else body
                digit = await run_in_threadpool(digit_from_image, data)    # decoding may take a while
            return JSONResponse(served[name].predict(digit), headers=SECURITY_HEADERS)
        except RequestError as exc:
            return error(exc.status, str(exc))
        except ClientDisconnect:
            return Response(status_code=400)

    async def http_error(request, exc):
        return error(exc.status_code, {404: f"no such page: {request.url.path[:80]}",
                                       405: f"{request.method} is not allowed here"}.get(exc.status_code,
                                                                                        exc.detail))

    async def server_error(request, exc):
        return error(500, f"internal error ({type(exc).__name__}); the server keeps running")

    routes = [Route("/", static_file("index.html")),
              Route("/static/style.css", static_file("style.css")),
              Route("/static/app.js", static_file("app.js")),
              Route("/api/models", list_models),
              Route("/api/predict", predict, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})


def default_app():
    """The app with the shipped models (for ``uvicorn glassnet.web.app:default_app --factory``)."""
    return create_app(load_models())
