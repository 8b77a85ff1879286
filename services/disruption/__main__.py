import uvicorn

from services.disruption.app import DisruptionSettings, create_app
from shared.settings import load

settings = load(DisruptionSettings)
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
