import uvicorn

from services.compensation.app import CompensationSettings, create_app
from shared.settings import load

settings = load(CompensationSettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
