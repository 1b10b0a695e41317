"""The ASGI app uvicorn imports (each worker process builds its own)."""

from .app import create_app
from .stopping import on_stop_signal

app = create_app()
# Waiting long polls answer as soon as the stop is asked for, well inside uvicorn's
# graceful-shutdown wait, instead of being cancelled at its end.
on_stop_signal(app.state.zk.watcher.stop_soon)
