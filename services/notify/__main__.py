import uvicorn

from services.notify.app import NotifySettings, create_app
from shared.settings import load

settings = load(NotifySettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
