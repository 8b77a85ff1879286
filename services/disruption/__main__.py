import uvicorn

from services.disruption.bootstrap import create_app
from services.disruption.config import DisruptionSettings
from shared.settings import load

settings = load(DisruptionSettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
