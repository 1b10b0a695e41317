"""The ASGI app uvicorn imports (each worker process builds its own)."""

from .app import create_app

app = create_app()
