import uvicorn

from services.compensation.bootstrap import create_app
from services.compensation.config import CompensationSettings
from shared.settings import load

settings = load(CompensationSettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
