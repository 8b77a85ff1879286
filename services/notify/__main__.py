import uvicorn

from services.notify.bootstrap import create_app
from services.notify.config import NotifySettings
from shared.settings import load

settings = load(NotifySettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
